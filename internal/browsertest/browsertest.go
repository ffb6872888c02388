// Package browsertest drives a real browser from Go tests: Debian's Chromium through chromedp,
// with axe-core to check pages for accessibility. The first use in a test binary provisions both
// (provision.sh: apt's chromium, npm's axe-core into a cache folder); a machine where that fails
// fails the test, never skips it.
package browsertest

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

//go:embed provision.sh
var provisionScript string

var (
	once     sync.Once
	chromium string
	axeJS    string
	provErr  error
)

// provision installs Chromium and axe-core when missing, once per test binary.
func provision() {
	cmd := exec.Command("bash", "-c", provisionScript)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if provErr = cmd.Run(); provErr != nil {
		provErr = fmt.Errorf("provisioning the browser (internal/browsertest/provision.sh): %w", provErr)
		return
	}
	sc := bufio.NewScanner(&out)
	var axePath string
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "chromium="); ok {
			chromium = v
		}
		if v, ok := strings.CutPrefix(sc.Text(), "axe="); ok {
			axePath = v
		}
	}
	data, err := os.ReadFile(axePath)
	if err != nil {
		provErr = fmt.Errorf("reading axe-core: %w", err)
		return
	}
	axeJS = string(data)
}

// New returns a context of a new headless Chromium tab of width × height CSS pixels, closed when
// the test ends, with every action bounded by timeout.
func New(t *testing.T, width, height int, timeout time.Duration) context.Context {
	t.Helper()
	once.Do(provision)
	if provErr != nil {
		t.Fatal(provErr)
	}
	// The flags Chromium needs on these machines: no sandbox as root, and none of its own network
	// traffic (the machines reach no outside host).
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(width, height),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		// No back-forward cache: a page restored from it fires no load event, and chromedp, waiting
		// for one, would wait for ever; the back button then reloads the page, as it does for
		// pages a browser may not cache.
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,BackForwardCache"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatalf("starting Chromium (%s): %v", chromium, err)
	}
	return ctx
}

// Violation is one rule axe-core found broken on a page.
type Violation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

// Axe runs axe-core on the page of ctx (injected through the DevTools protocol, so the page's
// Content-Security-Policy does not stop it) and returns its violations.
func Axe(ctx context.Context) ([]Violation, error) {
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[*runtime.RemoteObject](axeJS)); err != nil {
		return nil, fmt.Errorf("injecting axe-core: %w", err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations))`, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, err
	}
	var vs []Violation
	err = json.Unmarshal([]byte(raw), &vs)
	return vs, err
}

// SetHeaders makes the browser of ctx send headers with every request from now on.
func SetHeaders(ctx context.Context, headers map[string]string) error {
	h := network.Headers{}
	for k, v := range headers {
		h[k] = v
	}
	return chromedp.Do(ctx, func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, t, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: h})
		return chromedp.Void{}, err
	})
}

// Screenshot saves the page of ctx as a full-page PNG at path.
func Screenshot(ctx context.Context, path string) error {
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}
