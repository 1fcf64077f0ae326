package cmd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/serverclock"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sshkeys"
)

// HostKeysAnnotation holds the node's sshd host keys, one "TYPE BASE64" per line, as
// `ssh setup` read them on the node; the ssh command then checks the host strictly.
const HostKeysAnnotation = sshkeys.Domain + "/host-keys"

// sshClient is what the ssh commands share: the cluster's clients and the Node they edit.
type sshClient struct {
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams

	Node        string
	restConfig  *rest.Config
	client      kubernetes.Interface
	serverClock *serverclock.Clock
}

func newSSHClient(streams genericiooptions.IOStreams) sshClient {
	return sshClient{configFlags: genericclioptions.NewConfigFlags(true), IOStreams: streams}
}

// complete resolves the clients and checks the node name; it sends no request.
func (c *sshClient) complete(node string) error {
	if errs := validation.IsDNS1123Subdomain(node); len(errs) > 0 {
		return usageError(nil, "%q is not a valid node name: %s", node, strings.Join(errs, "; "))
	}
	c.Node = node
	var err error
	if c.restConfig, err = c.configFlags.ToRESTConfig(); err != nil {
		return diagnose.KubeconfigProblem(err)
	}
	c.serverClock = serverclock.New(nil)
	c.restConfig.Wrap(c.serverClock.Wrap)
	if c.client, err = kubernetes.NewForConfig(c.restConfig); err != nil {
		return diagnose.KubeconfigProblem(err)
	}
	return nil
}

// mayEditKeys is the preflight of every change: patch on this Node is what this design
// grants SSH by, so it is asked before anything is created or written.
func (c *sshClient) mayEditKeys(ctx context.Context) error {
	return c.mayDo(ctx, "patch", "to add or remove SSH keys on it")
}

func (c *sshClient) mayDo(ctx context.Context, verb, why string) error {
	review, err := c.client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: verb, Resource: "nodes", Name: c.Node,
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("checking access to node %s: %w", c.Node, err)
	}
	if !review.Status.Allowed {
		what := "node " + c.Node
		if c.Node == "" {
			what = "every node"
		}
		return fmt.Errorf("you may not %s %s (needed %s); ask a cluster admin for %s on nodes, e.g. the ClusterRole kubectl-node-shell:ssh from docs/ssh.md", verb, what, why, verb)
	}
	return nil
}

// getNode reads the Node; errors say which node and what to do.
func (c *sshClient) getNode(ctx context.Context) (*corev1.Node, error) {
	node, err := c.client.CoreV1().Nodes().Get(ctx, c.Node, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("node %s not found; `kubectl get nodes` lists them", c.Node)
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("you may not get node %s; ask a cluster admin for get on nodes", c.Node)
	case err != nil:
		return nil, fmt.Errorf("reading node %s: %w", c.Node, err)
	}
	return node, nil
}

// now is the apiserver's time when a response has told it, else the local one: a key's
// expiry is then right on the node even when this machine's clock is off (the node's
// own clock still judges it, see docs/ssh.md).
func (c *sshClient) now() time.Time {
	if t, ok := c.serverClock.Now(); ok {
		return t
	}
	return time.Now()
}

// patchAnnotations sets (value) or removes (nil) annotations of the Node with one merge
// patch, which touches no other annotation.
func (c *sshClient) patchAnnotations(ctx context.Context, annotations map[string]*string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Nodes().Patch(ctx, c.Node, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: podspec.FieldManager})
	if err != nil {
		return fmt.Errorf("patching node %s: %w", c.Node, err)
	}
	return nil
}

func (c *sshClient) putKey(ctx context.Context, k sshkeys.Key) error {
	value, err := k.Encode()
	if err != nil {
		return err
	}
	return c.patchAnnotations(ctx, map[string]*string{k.AnnotationName(): &value})
}

func (c *sshClient) removeKeys(ctx context.Context, ids ...string) error {
	annotations := map[string]*string{}
	for _, id := range ids {
		annotations[sshkeys.KeyPrefix+id] = nil
	}
	return c.patchAnnotations(ctx, annotations)
}

// defaultKeyID names a key by its content, so adding the same key again replaces it.
func defaultKeyID(publicKey string) string {
	fields := strings.Fields(publicKey)
	if len(fields) >= 2 {
		publicKey = fields[0] + " " + fields[1]
	}
	sum := sha256.Sum256([]byte(publicKey))
	return "k-" + hex.EncodeToString(sum[:6])
}

// nodeAddress is where the node's sshd is reached: its InternalIP, else its ExternalIP.
func nodeAddress(node *corev1.Node) (string, error) {
	for _, want := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP} {
		for _, a := range node.Status.Addresses {
			if a.Type == want && a.Address != "" {
				return a.Address, nil
			}
		}
	}
	return "", fmt.Errorf("node %s reports no InternalIP or ExternalIP in status.addresses, so there is no address to SSH to; check its kubelet's --node-ip", node.Name)
}

// optedIn fails unless `ssh setup` marked the node.
func optedIn(node *corev1.Node) error {
	if _, ok := node.Annotations[sshkeys.EnabledAnnotation]; !ok {
		return fmt.Errorf("node %s has not opted in to SSH with Kubernetes keys (no annotation %s); run: kubectl node-shell ssh setup %s", node.Name, sshkeys.EnabledAnnotation, node.Name)
	}
	return nil
}

func addKubeFlags(cmd *cobra.Command, c *sshClient) {
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError(c, "%v", err) })
	c.configFlags.AddFlags(cmd.Flags())
}
