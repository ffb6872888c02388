package geotest

// Recorded shapes. The documents and bodies below are trimmed from answers NCBI sent, as public
// NCBI clients keep them in their test data; the fake's own answers follow the same shapes.
// Sources (found with the search tool of this project's tool library):
//
//   - Klortho/Eutils-JSON, samples/esummary.gds.json: NCBI's esummary version 2.0 JSON of the
//     series GSE40726 (uid 200040726), every member of a gds document; its pubmedids are
//     numbers ([22983707]). Also samples/esummary.error.json (a root "error" message) and
//     samples/esearch.error.json (an esearchresult with an errorlist).
//   - A recorded-fixture module of a public Python GEO client ("Trimmed real GEO (db=gds)
//     E-utilities responses, recorded"; the code index shows its text, not its repository, under
//     find_string id 70233056949): GDS_5435 (a DataSet with its series in gse, "54723"),
//     GSE_ME (pubmedids as strings, bioproject, suppfile "CSV, IDAT"), GSM_1 with
//     "n_samples": "" (the empty numeric string), ESEARCH_EMPTY (count "0" with no querykey
//     and no webenv, and "No items found." in warninglist.outputmessages) and ESUMMARY_ERROR
//     ({"uid": "999999999", "error": "cannot get document summary"}).
//   - The rate-limit answer, 429 without Retry-After and
//     {"error":"API rate limit exceeded","api-key":"<caller's address>","count":"4","limit":"3"},
//     as quoted by the R package revdep reports that record rentrez's failures (rentrez and
//     recount, "HTTP failure: 429"), and by a public NCBI client's test that its egress address
//     never reaches its callers.
//   - "Empty result - nothing todo", the esummaryresult message of a request for no documents,
//     as handled by several public clients (found with find_string).

// RecordedGSE returns the series GSE40726 as Klortho/Eutils-JSON samples/esummary.gds.json
// records it: six samples, pubmedids as a number, no bioproject.
func RecordedGSE() Doc {
	return Doc{
		UID: "200040726", Accession: "GSE40726", EntryType: "GSE", GPL: "7202", Taxon: "Mus musculus",
		Title:    "Transcriptional profiling of IRF4 -/- vs IRF4 +/- T-cells under Th17 polarizing conditions",
		Summary:  "Transcriptional profiling of T-cells isolated from spleen of IRF4 -/- mice and cultured under Th17 polarizing conditions for 42 hrs.",
		GDSType:  "Expression profiling by array",
		PDAT:     "2012/09/13",
		NSamples: 6,
		SuppFile: "TXT",
		Samples:  []string{"GSM999794", "GSM999797", "GSM999796", "GSM999799", "GSM999795", "GSM999798"},
		FTPLink:  "ftp://ftp.ncbi.nlm.nih.gov/geo/series/GSE40nnn/GSE40726/",
		Raw:      map[string]any{"pubmedids": []any{22983707}},
	}
}

// RecordedGDS returns the DataSet GDS5435 as recorded (GDS_5435): its series in gse, its
// subsets, two of its fourteen samples, pubmedids as strings and its bioproject.
func RecordedGDS() Doc {
	return Doc{
		UID: "5435", Accession: "GDS5435", EntryType: "GDS", GPL: "6885", GSE: "54723", Taxon: "Mus musculus",
		Title:      "Dietary palatinose effect on liver",
		Summary:    "Analysis of liver from C57Bl/6J males fed isocaloric diets containing sucrose or palatinose.",
		GDSType:    "Expression profiling by array",
		PDAT:       "2014/12/05",
		NSamples:   14,
		PubMedIDs:  []string{"25348610"},
		BioProject: "PRJNA237500",
		Samples:    []string{"GSM1322809", "GSM1322810"},
		FTPLink:    "ftp://ftp.ncbi.nlm.nih.gov/geo/datasets/GDS5nnn/GDS5435/",
		Raw: map[string]any{
			"suppfile":      "",
			"valtype":       "count",
			"ssinfo":        "protocol;protocol",
			"subsetinfo":    "2 protocol",
			"seriestitle":   "Nutritional Strategy to Prevent Fatty Liver and Insulin Resistance Independent of Obesity by Reducing GIP Responses",
			"platformtitle": "Illumina MouseRef-8 v2.0 expression beadchip",
			"platformtaxa":  "Mus musculus",
			"samplestaxa":   "Mus musculus",
			"geo2r":         "",
		},
	}
}

// NoSampleCount is what NCBI serves in place of a number for a document without one (GSM_1's
// "n_samples": ""); put it in [Doc.Raw] under "n_samples".
const NoSampleCount = ""
