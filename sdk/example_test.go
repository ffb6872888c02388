package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/osa-archive/osa/sdk"
)

// The examples run against the server TestMain starts; serverURL is its address, where real
// code would have "http://localhost:8080" or "https://osa.example.org".

// Publish a record, wait until every backend has indexed it, and find it.
func Example() {
	ctx := context.Background()
	client, err := sdk.New(serverURL)
	if err != nil {
		log.Fatal(err)
	}
	rec, err := client.PublishWithOpts(ctx, sdk.PublishParams{Metadata: map[string]any{
		"title": "Zebrafish heart regeneration atlas", "organism": "Danio rerio",
	}}, &sdk.PublishOpts{WaitIndexed: true})
	if err != nil {
		log.Fatal(err)
	}
	if !rec.Indexed {
		log.Fatalf("not indexed yet: %+v", rec.NotIndexed)
	}
	res, err := client.Search(ctx, "zebrafish regeneration", &sdk.SearchOpts{Limit: 5})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("mode:", res.Mode)
	fmt.Println("found:", res.Hits[0].SRN == rec.SRN, res.Hits[0].Metadata["title"])
	// Output:
	// mode: hybrid
	// found: true Zebrafish heart regeneration atlas
}

func ExampleClient_PublishMany() {
	ctx := context.Background()
	client, err := sdk.New(serverURL)
	if err != nil {
		log.Fatal(err)
	}
	results, err := client.PublishMany(ctx, []sdk.PublishParams{
		{Metadata: map[string]any{"title": "Mouse cortex single-cell atlas"}},
		{Metadata: map[string]any{"title": "Half an upsert"}, Source: "lab"}, // source_id missing
		{Metadata: map[string]any{"title": "Human liver proteome"}, Source: "lab", SourceID: "L-1"},
	})
	var pubErr *sdk.PublishManyError
	if errors.As(err, &pubErr) {
		fmt.Printf("%d of %d not published\n", pubErr.Failed, pubErr.Total)
	}
	for i, r := range results {
		var e *sdk.Error
		if errors.As(r.Err, &e) {
			fmt.Printf("%d: %s: %s\n", i, e.Code, e.Field)
			continue
		}
		fmt.Printf("%d: version %d\n", i, r.Version)
	}
	// Output:
	// 1 of 3 not published
	// 0: version 1
	// 1: invalid_argument: records[1].source_id
	// 2: version 1
}

// An upsert of the same metadata changes nothing; changed metadata makes a new version.
func ExampleClient_Publish_upsert() {
	ctx := context.Background()
	client, err := sdk.New(serverURL)
	if err != nil {
		log.Fatal(err)
	}
	for _, title := range []string{"Arabidopsis root atlas", "Arabidopsis root atlas", "Arabidopsis root atlas, v2"} {
		rec, err := client.Publish(ctx, sdk.PublishParams{
			Metadata: map[string]any{"title": title}, Source: "example_upsert", SourceID: "GSE1",
		})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(rec.Version, rec.Metadata["title"])
	}
	// Output:
	// 1 Arabidopsis root atlas
	// 1 Arabidopsis root atlas
	// 2 Arabidopsis root atlas, v2
}

func ExampleClient_Get() {
	ctx := context.Background()
	client, err := sdk.New(serverURL)
	if err != nil {
		log.Fatal(err)
	}
	rec, err := client.Publish(ctx, sdk.PublishParams{Metadata: map[string]any{"title": "Yeast stress response"}})
	if err != nil {
		log.Fatal(err)
	}
	got, err := client.Get(ctx, rec.SRN)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.Version, got.Metadata["title"], strings.HasPrefix(got.SRN, "urn:osa:localhost:rec:"))

	if err := client.Delete(ctx, rec.SRN); err != nil {
		log.Fatal(err)
	}
	got, err = client.Get(ctx, rec.SRN)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("deleted:", got.DeletedAt != nil)
	// Output:
	// 1 Yeast stress response true
	// deleted: true
}

// Failed calls return an *sdk.Error: match its code with errors.Is, read the field with
// errors.As.
func ExampleError() {
	ctx := context.Background()
	client, err := sdk.New(serverURL)
	if err != nil {
		log.Fatal(err)
	}
	_, err = client.Get(ctx, "urn:osa:localhost:rec:0190b2a4-7c1e-7cc0-9d2a-6d3c1f0a9e11")
	fmt.Println(errors.Is(err, sdk.ErrNotFound))

	_, err = client.Get(ctx, "not-an-srn")
	var e *sdk.Error
	if errors.As(err, &e) {
		fmt.Println(errors.Is(err, sdk.ErrInvalidArgument), e.Code, e.Field)
	}
	// Output:
	// true
	// true invalid_argument srn
}

func ExampleClient_Records() {
	ctx := context.Background()
	client, err := sdk.New(serverURL)
	if err != nil {
		log.Fatal(err)
	}
	var batch []sdk.PublishParams
	for i := range 5 {
		batch = append(batch, sdk.PublishParams{
			Metadata: map[string]any{"title": fmt.Sprintf("Plate %d", i)}, Source: "example_records", SourceID: fmt.Sprint(i),
		})
	}
	if _, err := client.PublishMany(ctx, batch); err != nil {
		log.Fatal(err)
	}
	n := 0
	// Pages of two records, to show that the loop goes on across pages.
	for rec, err := range client.Records(ctx, &sdk.RecordsParams{Source: "example_records", PageSize: 2}) {
		if err != nil {
			log.Fatal(err)
		}
		n++
		_ = rec.SRN
	}
	fmt.Println(n, "records")
	// Output: 5 records
}

func ExampleClient_Search() {
	ctx := context.Background()
	client, err := sdk.New(serverURL)
	if err != nil {
		log.Fatal(err)
	}
	results, err := client.PublishMany(ctx, []sdk.PublishParams{
		{Metadata: map[string]any{"title": "Axolotl limb regrowth", "organism": "Ambystoma mexicanum"}},
		{Metadata: map[string]any{"title": "Axolotl limb development", "organism": "Xenopus laevis"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range results {
		if _, err := client.WaitIndexed(ctx, r.SRN); err != nil {
			log.Fatal(err)
		}
	}
	res, err := client.Search(ctx, "axolotl limb", &sdk.SearchOpts{
		Mode:   sdk.SearchKeyword,
		Filter: map[string]any{"organism": "Ambystoma mexicanum"},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range res.Hits {
		fmt.Println(h.Metadata["title"], h.KeywordRank)
	}
	// Output: Axolotl limb regrowth 1
}

func ExampleClient_WaitIndexed() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := sdk.New(serverURL)
	if err != nil {
		log.Fatal(err)
	}
	rec, err := client.Publish(ctx, sdk.PublishParams{Metadata: map[string]any{"title": "Drosophila wing disc"}})
	if err != nil {
		log.Fatal(err)
	}
	// Only the keyword backend; without names, every backend.
	st, err := client.WaitIndexed(ctx, rec.SRN, "keyword")
	if err != nil {
		log.Fatal(err)
	}
	kw := st.Backend("keyword")
	fmt.Println(kw.State, kw.IndexedVersion)
	// Output: indexed 1
}

func ExampleClient_Backends() {
	client, err := sdk.New(serverURL)
	if err != nil {
		log.Fatal(err)
	}
	backends, err := client.Backends(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, b := range backends {
		fmt.Println(b.Name, b.Kind, b.Dims, b.Healthy)
	}
	// Output:
	// vector pgvector 384 true
	// keyword keyword 0 true
}

// gRPC over plain http:// needs HTTP/2 without TLS; the default HTTP client of ProtocolGRPC
// speaks it.
func ExampleWithProtocol() {
	client, err := sdk.New(serverURL, sdk.WithProtocol(sdk.ProtocolGRPC), sdk.WithUserAgent("example/1.0"))
	if err != nil {
		log.Fatal(err)
	}
	backends, err := client.Backends(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(client.Protocol(), len(backends))
	// Output: grpc 2
}
