// Command floor is the lower bound of a node-shell session, for the benchmark: the fewest
// requests that can run a command on a node through a pod. It creates the pod, watches it
// from the version the create returned until its container runs, execs `chroot /host
// COMMAND` over WebSocket, and deletes the pod (grace 0). No preflight, no discovery, no
// fallback, no progress output.
//
//	floor -kubeconfig FILE -n NAMESPACE NODE -- COMMAND [ARGS...]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/utils/ptr"

	"github.com/kubectl-node-shell/kubectl-node-shell/bench/nodepod"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file")
	namespace := flag.String("n", "default", "namespace of the pod")
	flag.Parse()
	if flag.NArg() < 2 {
		fmt.Fprintln(os.Stderr, "usage: floor -kubeconfig FILE -n NAMESPACE NODE -- COMMAND [ARGS...]")
		os.Exit(2)
	}
	command := flag.Args()[1:]
	if command[0] == "--" {
		command = command[1:]
	}
	code, err := run(context.Background(), *kubeconfig, *namespace, flag.Arg(0), command)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(255)
	}
	os.Exit(code)
}

func run(ctx context.Context, kubeconfig, namespace, node string, command []string) (int, error) {
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return 0, err
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return 0, err
	}
	pods := client.CoreV1().Pods(namespace)
	pod, err := pods.Create(ctx, nodepod.New(node, namespace, "floor-", "floor"), metav1.CreateOptions{})
	if err != nil {
		return 0, err
	}
	defer func() {
		_ = pods.Delete(context.Background(), pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: ptr.To[int64](0),
			Preconditions:      &metav1.Preconditions{UID: &pod.UID},
		})
	}()
	if err := waitRunning(ctx, client, pod); err != nil {
		return 0, err
	}
	return execute(ctx, config, client, pod, append([]string{"chroot", nodepod.HostMount}, command...))
}

// waitRunning is one watch request from the create's resourceVersion.
func waitRunning(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod) error {
	w, err := client.CoreV1().Pods(pod.Namespace).Watch(ctx, metav1.ListOptions{
		FieldSelector:   fields.OneTermEqualSelector("metadata.name", pod.Name).String(),
		ResourceVersion: pod.ResourceVersion,
	})
	if err != nil {
		return err
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			return fmt.Errorf("watch: unexpected %s event: %v", ev.Type, ev.Object)
		}
		if nodepod.Running(p) {
			return nil
		}
		if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			return fmt.Errorf("pod %s ended (%s) before it ran", p.Name, p.Status.Phase)
		}
	}
	return errors.New("watch closed before the pod ran")
}

func execute(ctx context.Context, config *rest.Config, client kubernetes.Interface, pod *corev1.Pod, command []string) (int, error) {
	req := client.CoreV1().RESTClient().Post().
		Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: nodepod.Container, Command: command, Stdout: true, Stderr: true,
		}, scheme.ParameterCodec)
	exec, err := remotecommand.NewWebSocketExecutor(config, "GET", req.URL().String())
	if err != nil {
		return 0, err
	}
	err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: os.Stdout, Stderr: os.Stderr})
	var exitErr utilexec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exitErr) && exitErr.Exited():
		return exitErr.ExitStatus(), nil
	}
	return 0, err
}
