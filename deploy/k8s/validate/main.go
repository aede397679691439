// k8s-validate checks rendered manifests with no cluster. Built-in kinds (and the Prometheus Operator's, whose Go
// types are small) are decoded strictly into their Go types: an unknown field, a field in the wrong place or a
// value of the wrong type fails. Custom resources whose CustomResourceDefinition is given with -crd are checked
// as the API server checks them: fields the CRD's schema does not declare, and the schema's own rules (types,
// enums, required fields, ranges). Anything else is listed as unchecked. It reads a multi-document YAML stream
// on stdin and prints one line per object:
//
//	ok <apiVersion> <kind> <name>
//	unchecked <apiVersion> <kind> <name>
//	invalid <apiVersion> <kind> <name>: <reason>
//
// and exits 1 when any object is invalid (2 when the input or a CRD cannot be read).
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

// crdSchema is what the API server checks a custom resource of one version against.
type crdSchema struct {
	structural *structuralschema.Structural
	validator  validation.SchemaValidator
}

func newScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		appsv1.AddToScheme, autoscalingv2.AddToScheme, batchv1.AddToScheme, corev1.AddToScheme,
		networkingv1.AddToScheme, policyv1.AddToScheme, rbacv1.AddToScheme, monitoringv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return scheme
}

// loadCRD reads one CustomResourceDefinition file and returns the schema of each version it serves.
func loadCRD(path string) (map[schema.GroupVersionKind]crdSchema, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(data, &crd); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	schemas := map[schema.GroupVersionKind]crdSchema{}
	for _, version := range crd.Spec.Versions {
		if !version.Served || version.Schema == nil || version.Schema.OpenAPIV3Schema == nil {
			continue
		}
		internal := &apiextensions.JSONSchemaProps{}
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(version.Schema.OpenAPIV3Schema, internal, nil); err != nil {
			return nil, fmt.Errorf("%s %s: %w", path, version.Name, err)
		}
		structural, err := structuralschema.NewStructural(internal)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", path, version.Name, err)
		}
		validator, _, err := validation.NewSchemaValidator(internal)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", path, version.Name, err)
		}
		gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: version.Name, Kind: crd.Spec.Names.Kind}
		schemas[gvk] = crdSchema{structural: structural, validator: validator}
	}
	return schemas, nil
}

func checkCustom(document []byte, s crdSchema) error {
	var object map[string]interface{}
	if err := yaml.Unmarshal(document, &object); err != nil {
		return err
	}
	unknown := pruning.PruneWithOptions(object, s.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	if len(unknown) > 0 {
		return fmt.Errorf("fields the CRD does not declare: %s", strings.Join(unknown, ", "))
	}
	if errs := validation.ValidateCustomResource(nil, object, s.validator); len(errs) > 0 {
		return errs.ToAggregate()
	}
	return nil
}

func check(scheme *runtime.Scheme, crds map[schema.GroupVersionKind]crdSchema, document []byte) (string, bool) {
	var h header
	if err := yaml.Unmarshal(document, &h); err != nil {
		return fmt.Sprintf("invalid ? ? ?: %v", err), false
	}
	where := fmt.Sprintf("%s %s %s", h.APIVersion, h.Kind, h.Metadata.Name)
	gvk := schema.FromAPIVersionAndKind(h.APIVersion, h.Kind)
	if s, ok := crds[gvk]; ok {
		if err := checkCustom(document, s); err != nil {
			return fmt.Sprintf("invalid %s: %v", where, err), false
		}
		return "ok " + where, true
	}
	object, err := scheme.New(gvk)
	if err != nil {
		return "unchecked " + where, true
	}
	if err := yaml.UnmarshalStrict(document, object); err != nil {
		return fmt.Sprintf("invalid %s: %v", where, err), false
	}
	return "ok " + where, true
}

func main() {
	crds := map[schema.GroupVersionKind]crdSchema{}
	flag.Func("crd", "a CustomResourceDefinition file to check its custom resources against (repeatable)", func(path string) error {
		schemas, err := loadCRD(path)
		for gvk, s := range schemas {
			crds[gvk] = s
		}
		return err
	})
	flag.Parse()
	scheme := newScheme()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(os.Stdin))
	valid := true
	for {
		document, err := reader.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "k8s-validate:", err)
			os.Exit(2)
		}
		if len(bytes.TrimSpace(document)) == 0 {
			continue
		}
		line, ok := check(scheme, crds, document)
		fmt.Println(line)
		valid = valid && ok
	}
	if !valid {
		os.Exit(1)
	}
}
