package podspec

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// TestGeneratedNameIsADNSLabel: the apiserver warns on every create whose pod name is not
// a DNS label, and dotted node names are common.
func TestGeneratedNameIsADNSLabel(t *testing.T) {
	for _, node := range []string{"node-1", "127.0.0.1", "ip-10-0-1-23.ec2.internal", "Worker.Example.COM"} {
		pod, err := Build(Spec{Node: node})
		if err != nil {
			t.Fatal(err)
		}
		if errs := validation.IsDNS1123Label(pod.GenerateName + "abcde"); len(errs) > 0 {
			t.Errorf("node %q: generated name %q is not a DNS label: %v", node, pod.GenerateName+"abcde", errs)
		}
	}
}
