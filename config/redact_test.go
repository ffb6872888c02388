package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestRedacted(t *testing.T) {
	t.Parallel()

	t.Run("SecretsGone", func(t *testing.T) {
		t.Parallel()
		cfg := Default()
		cfg.Database.URL = "postgres://osa:hunter2@db:5432/osa?sslmode=disable"
		cfg.Database.ReplicaURLs = []string{"postgres://osa:hunter3@replica:5432/osa"}
		cfg.Backends[0].Embedder.APIKey = "sk-secret-embedder"
		cfg.Sources[0].Geo.APIKey = "ncbi-secret-key"
		orig, err := cfg.YAML()
		if err != nil {
			t.Fatal(err)
		}
		before := cfg.clone()

		data, err := cfg.Redacted().YAML()
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"hunter2", "hunter3", "sk-secret-embedder", "ncbi-secret-key"} {
			if strings.Contains(string(data), secret) {
				t.Errorf("Redacted().YAML() contains %q:\n%s", secret, data)
			}
			if !strings.Contains(string(orig), secret) {
				t.Errorf("YAML() lost %q", secret)
			}
		}
		for _, want := range []string{"url: postgres://osa:REDACTED@db:5432/osa?sslmode=disable", "postgres://osa:REDACTED@replica:5432/osa",
			"api_key: REDACTED"} {
			if !strings.Contains(string(data), want) {
				t.Errorf("Redacted().YAML() lacks %q:\n%s", want, data)
			}
		}
		if !reflect.DeepEqual(cfg, before) {
			t.Fatal("Redacted() changed the original")
		}
	})

	t.Run("DeepCopy", func(t *testing.T) {
		t.Parallel()
		cfg := Default()
		r := cfg.Redacted()
		r.Backends[0].Embedder.Model = "changed"
		r.Backends[0].HNSW.M = 99
		r.Backends[1].Text.Fields[0] = "changed"
		r.Sources[0].Geo.Email = "changed@example.org"
		if !reflect.DeepEqual(cfg, Default()) {
			t.Fatal("changing Redacted() changed the original")
		}
	})

	t.Run("EmptySecretsStayEmpty", func(t *testing.T) {
		t.Parallel()
		if r := Default().Redacted(); !reflect.DeepEqual(r, Default()) {
			t.Fatalf("Redacted() of a config without secrets = %+v", r)
		}
	})
}

func TestRedactConnString(t *testing.T) {
	t.Parallel()

	tests := []struct{ in, want string }{
		{"", ""},
		{"postgres://osa@db/osa", "postgres://osa@db/osa"},
		{"postgres://osa:hunter2@db/osa", "postgres://osa:REDACTED@db/osa"},
		{"postgresql://osa@db/osa?password=hunter2", "postgresql://osa@db/osa?password=REDACTED"},
		{"postgres://osa:hunter2 x@db/osa", "REDACTED"},
		{"host=db password=hunter2 dbname=osa", "host=db password=REDACTED dbname=osa"},
		{"host=db password='hunter 2' dbname=osa", "host=db password=REDACTED dbname=osa"},
		{"host=db sslpassword=hunter2", "host=db sslpassword=REDACTED"},
	}
	for _, tt := range tests {
		if got := redactConnString(tt.in); got != tt.want {
			t.Errorf("redactConnString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
