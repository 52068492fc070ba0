// openapi2schemas turns the Kubernetes OpenAPI v2 document that ships in the k8s.io/kubernetes
// module (api/openapi-spec/swagger.json, the API server's own spec at that version) into the JSON
// schemas kubeconform reads from a directory: one file per kind and version, named as kubeconform
// looks them up (<kind><-group's first label>-<version>.json, e.g. deployment-apps-v1.json,
// service-v1.json), in <out>/<version>-standalone-strict/. No cluster and no network: the
// kubernetes-json-schema project does the same from a running API server's spec.
//
// Each file is self-contained: the kind's definition at the root, every definition it refers to
// under "definitions" (local $refs, so recursive ones such as JSONSchemaProps work). "strict" as
// kubeconform means it: objects with properties get additionalProperties: false, so a misspelt
// field is an error, as the API server's strict field validation makes it. int-or-string becomes
// a string-or-integer choice.
//
//	openapi2schemas <swagger.json> <out dir> <version, e.g. v1.34.4>
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

const refPrefix = "#/definitions/"

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: openapi2schemas <swagger.json> <out dir> <kubernetes version>")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	check(err)
	var spec struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	check(json.Unmarshal(raw, &spec))
	for _, def := range spec.Definitions {
		strict(def)
	}
	dir := filepath.Join(os.Args[2], os.Args[3]+"-standalone-strict")
	check(os.MkdirAll(dir, 0o755))
	names := make([]string, 0, len(spec.Definitions))
	for n := range spec.Definitions {
		names = append(names, n)
	}
	sort.Strings(names)
	written := 0
	for _, name := range names {
		def := spec.Definitions[name]
		gvks, _ := def["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			gvk := g.(map[string]any)
			group, _ := gvk["group"].(string)
			version, _ := gvk["version"].(string)
			kind, _ := gvk["kind"].(string)
			file := strings.ToLower(kind)
			if group != "" {
				file += "-" + strings.ToLower(strings.Split(group, ".")[0])
			}
			file += "-" + strings.ToLower(version) + ".json"
			out := map[string]any{}
			for k, v := range def {
				out[k] = v
			}
			refs := map[string]any{}
			collect(def, spec.Definitions, refs)
			if len(refs) > 0 {
				out["definitions"] = refs
			}
			b, err := json.Marshal(out)
			check(err)
			check(os.WriteFile(filepath.Join(dir, file), b, 0o644))
			written++
		}
	}
	fmt.Printf("%d schemas in %s\n", written, dir)
}

// strict rewrites a schema in place: additionalProperties false where properties are listed and
// nothing else is said, int-or-string as a choice of the two types.
func strict(v any) {
	switch s := v.(type) {
	case map[string]any:
		for k, child := range s {
			if m, ok := child.(map[string]any); ok && m["format"] == "int-or-string" {
				s[k] = map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
				continue
			}
			strict(child)
		}
		if _, has := s["properties"]; has {
			if _, said := s["additionalProperties"]; !said {
				s["additionalProperties"] = false
			}
		}
	case []any:
		for i, child := range s {
			if m, ok := child.(map[string]any); ok && m["format"] == "int-or-string" {
				s[i] = map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
				continue
			}
			strict(child)
		}
	}
}

// collect adds every definition `v` refers to, transitively, to `into`.
func collect(v any, defs map[string]map[string]any, into map[string]any) {
	switch s := v.(type) {
	case map[string]any:
		if ref, ok := s["$ref"].(string); ok && strings.HasPrefix(ref, refPrefix) {
			name := strings.TrimPrefix(ref, refPrefix)
			if _, seen := into[name]; !seen {
				def, ok := defs[name]
				if !ok {
					check(fmt.Errorf("$ref to a missing definition %s", name))
				}
				into[name] = def
				collect(def, defs, into)
			}
		}
		for _, child := range s {
			collect(child, defs, into)
		}
	case []any:
		for _, child := range s {
			collect(child, defs, into)
		}
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "openapi2schemas:", err)
		os.Exit(1)
	}
}
