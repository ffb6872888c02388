// Package sdk is the Go client of an OSA (Open Science Archive) server: publish metadata
// records, wait until the search backends have indexed them, search, and run harvests and
// admin tasks, with plain Go types and typed errors — no protobuf in sight unless asked for
// (see The API's messages).
//
// # Publish, wait, search
//
//	client, _ := sdk.New("http://localhost:8080") // fails only on a malformed URL
//	rec, err := client.PublishWithOpts(ctx, sdk.PublishParams{Metadata: map[string]any{"title": "Zebrafish heart atlas"}},
//		&sdk.PublishOpts{WaitIndexed: true}) // answers once the backends searches use hold it
//	if err != nil {
//		return err
//	}
//	if !rec.Indexed {
//		fmt.Println("not indexed yet:", rec.NotIndexed) // the wait ran out, or a backend failed
//	}
//	res, err := client.Search(ctx, "zebrafish heart", &sdk.SearchOpts{Limit: 5})
//	// res.Hits[0].SRN == rec.SRN
//
// [Client.Publish] answers as soon as the record is stored, and the record is searchable a
// moment later; [Client.WaitIndexed] polls a record's status from the client until every
// backend holds it.
//
// The package example below is the same, runnable.
//
// # Many records
//
// [Client.PublishMany] takes any number of records and sends them in chunks of up to 1000, one
// transaction each. It returns a [PublishResult] per record, in order: the SRN, or the error of
// a record the server rejected, whose field names the record's index in your slice
// ("records[1234].metadata"). The other records of a rejected chunk are sent again and
// published; see [Client.PublishMany] for what stops a call early.
//
// A record published with Source and SourceID is an upsert: publishing the same metadata again
// changes nothing, so re-running an import is safe (and such publishes are retried on
// Unavailable).
//
// # Reading
//
// [Client.Get] returns a record, [Client.Records] iterates over all of them page by page, and
// [Client.IndexStatus] tells which version each backend holds. [Client.WaitIndexed] polls that
// status, with backoff, until the record is indexed everywhere (or on the backends you name).
//
// # Harvests and administration
//
// [Client.StartHarvest] starts a harvest of a configured source, [Client.Harvest] reads its
// progress and [Client.WaitHarvest] polls until it ends. [Client.Reindex] rebuilds a backend
// ([Client.ReindexJob], [Client.WaitReindex] follow it), [Client.RetryFailed] re-queues the
// records a backend gave up on, and [Client.QueueStats] and [Client.Backends] show the job queues
// and the backends. Harvests need a token with the sources:run scope, the admin calls one with
// admin.
//
// # Errors
//
// Every failed call returns an [*Error] with the server's [Code], the offending field of an
// invalid argument, and the message. Match the code with errors.Is:
//
//	_, err := client.Get(ctx, srn)
//	switch {
//	case errors.Is(err, sdk.ErrNotFound):
//		// no such record
//	case errors.Is(err, sdk.ErrInvalidArgument):
//		var e *sdk.Error
//		errors.As(err, &e)
//		fmt.Println("bad field:", e.Field) // "srn"
//	}
//
// # The API's messages
//
// The types that a call reads from the server (Record, SearchResult, IndexStatus, Backend,
// QueueStats, Harvest, ReindexJob, BackendChange) keep the API message they were read from;
// their Proto method returns it. protojson.Marshal of it is the JSON the Connect JSON API
// answers (lowerCamelCase names, enum names such as SEARCH_MODE_VECTOR, 64-bit integers as
// strings), which is what osa --json prints. Nothing else needs the generated types.
//
// # Connecting
//
// [New] takes options: [WithToken] for a bearer token, [WithProtocol] for Connect with binary
// protobuf (the default), Connect with JSON, gRPC or gRPC-Web, [WithHTTPClient], [WithTimeout],
// [WithRetry] (idempotent calls are retried on Unavailable with backoff), [WithPollInterval] and
// [WithUserAgent]. A Client is safe for concurrent use.
package sdk
