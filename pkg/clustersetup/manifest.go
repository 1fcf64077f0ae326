package clustersetup

import (
	"bytes"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/printers"
)

// Unstructured is obj as setup applies and prints it: without the fields every typed object
// carries though nobody set them (creationTimestamp: null, an empty status), which would
// otherwise be sent in the apply and shown in the manifest; so is an empty spec.
func Unstructured(obj runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	if spec, ok := u.Object["spec"].(map[string]any); ok && len(spec) == 0 {
		delete(u.Object, "spec")
	}
	return u, nil
}

// Manifest is objs as a YAML stream, as `kubectl node-shell setup --dry-run=client -o yaml`
// prints them: something to review, or to apply with `kubectl apply --server-side -f -`.
func Manifest(objs []Object) ([]byte, error) {
	var buf bytes.Buffer
	printer := &printers.YAMLPrinter{}
	for _, o := range objs {
		u, err := Unstructured(o.Object)
		if err != nil {
			return nil, err
		}
		if err := printer.PrintObj(u, &buf); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}
