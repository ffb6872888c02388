package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/osa-archive/osa/config"
)

// tokenBytes is the entropy of a new token.
const tokenBytes = 32

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make bearer tokens for auth.tokens",
	}
	var scopes []string
	newCmd := &cobra.Command{
		Use:   "new NAME",
		Short: "Print a new token once, and the config line that accepts it",
		Long: `new makes a random token, prints it once, and prints the auth.tokens entry that holds its
SHA-256 hash: the server never stores the token itself. Scopes: records:read (the changefeed,
ListEvents and WatchEvents, when auth.public_read is false), records:write (publish and delete
records), sources:run (start harvests), admin (admin RPCs and River UI; implies the others).`,
		Example: `  osa token new ci --scopes records:write
  osa token new mirror --scopes records:read
  osa token new ops --scopes admin`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			secret := make([]byte, tokenBytes)
			if _, err := rand.Read(secret); err != nil {
				return err
			}
			tok := "osa_" + base64.RawURLEncoding.EncodeToString(secret)
			sum := sha256.Sum256([]byte(tok))
			entry := config.Token{Name: args[0], SHA256: hex.EncodeToString(sum[:]), Scopes: scopes}

			check := config.Default()
			check.Auth.Tokens = []config.Token{entry}
			if err := check.Validate(); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), `Token %q (shown once, store it now):
  %s

Add this entry to auth.tokens in the server's config file:
  - {name: %s, sha256: %s, scopes: [%s]}
`, entry.Name, tok, entry.Name, entry.SHA256, strings.Join(entry.Scopes, ", "))
			return nil
		},
	}
	newCmd.Flags().StringSliceVar(&scopes, "scopes", nil, "scopes of the token: records:read, records:write, sources:run, admin (required)")
	_ = newCmd.MarkFlagRequired("scopes")
	cmd.AddCommand(newCmd)
	return cmd
}
