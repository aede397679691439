// k8s-validate decodes rendered manifests strictly into the Kubernetes API's own Go types, with no cluster:
// an unknown field, a field in the wrong place or a value of the wrong type fails. Objects of kinds the
// client library does not know (custom resources such as KEDA's or the Prometheus Operator's) are listed as
// unchecked. It reads a multi-document YAML stream on stdin and prints one line per object:
//
//	ok <apiVersion> <kind> <name>
//	unchecked <apiVersion> <kind> <name>
//	invalid <apiVersion> <kind> <name>: <reason>
//
// and exits 1 when any object is invalid.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
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

func newScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		appsv1.AddToScheme, autoscalingv2.AddToScheme, batchv1.AddToScheme, corev1.AddToScheme,
		networkingv1.AddToScheme, policyv1.AddToScheme, rbacv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return scheme
}

func check(scheme *runtime.Scheme, document []byte) (string, bool) {
	var h header
	if err := yaml.Unmarshal(document, &h); err != nil {
		return fmt.Sprintf("invalid ? ? ?: %v", err), false
	}
	where := fmt.Sprintf("%s %s %s", h.APIVersion, h.Kind, h.Metadata.Name)
	object, err := scheme.New(schema.FromAPIVersionAndKind(h.APIVersion, h.Kind))
	if err != nil {
		return "unchecked " + where, true
	}
	if err := yaml.UnmarshalStrict(document, object); err != nil {
		return fmt.Sprintf("invalid %s: %v", where, err), false
	}
	return "ok " + where, true
}

func main() {
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
		line, ok := check(scheme, document)
		fmt.Println(line)
		valid = valid && ok
	}
	if !valid {
		os.Exit(1)
	}
}
