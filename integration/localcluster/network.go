package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
)

// The pod bridge is managed with iproute2's `ip`: three commands at Up and
// one at Down do not justify a netlink dependency.

func bridgeExists() bool {
	_, err := net.InterfaceByName(podBridge)
	return err == nil
}

// createBridge creates lcbr0 holding 198.18.0.1/16 and records it, so that
// Down deletes it even if Up fails half-way.
func createBridge(ctx context.Context, l layout) error {
	if err := os.WriteFile(l.savedFile("bridge"), []byte(podBridge+"\n"), 0o644); err != nil {
		return fmt.Errorf("recording bridge: %w", err)
	}
	for _, args := range [][]string{
		{"link", "add", podBridge, "type", "bridge"},
		{"addr", "add", podSubnetPrefix + ".0.1/16", "dev", podBridge},
		{"link", "set", podBridge, "up"},
	} {
		if err := runIP(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// deleteBridge deletes the bridge if Up recorded creating it.
func deleteBridge(ctx context.Context, l layout) error {
	data, err := os.ReadFile(l.savedFile("bridge"))
	if err != nil {
		return nil
	}
	name := strings.TrimSpace(string(data))
	if _, err := net.InterfaceByName(name); err != nil {
		return nil
	}
	return runIP(ctx, "link", "del", name)
}

func runIP(ctx context.Context, args ...string) error {
	ip, err := exec.LookPath("ip")
	if err != nil {
		for _, p := range []string{"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"} {
			if fileExists(p) {
				ip = p
				break
			}
		}
		if ip == "" {
			return errors.New("the ip command (iproute2) is required")
		}
	}
	out, err := exec.CommandContext(ctx, ip, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// checkPortsFree fails if one of the cluster's fixed ports is taken, e.g. by
// another cluster. Binding 127.0.0.1:P also fails when something listens on
// the wildcard address with port P.
func checkPortsFree(nodes int) error {
	addrs := []string{
		fmt.Sprintf("127.0.0.1:%d", apiServerPort), etcdClient, etcdPeer, RegistryAddr,
		fmt.Sprintf("127.0.0.1:%d", kcmPort),
	}
	for k := 1; k <= nodes; k++ {
		addrs = append(addrs, fmt.Sprintf("%s:%d", nodeName(k), kubeletPort), fmt.Sprintf("%s:%d", nodeName(k), kubeletHealth))
	}
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return fmt.Errorf("port %s is in use (another cluster running?): %w", a, err)
		}
		ln.Close()
	}
	return nil
}
