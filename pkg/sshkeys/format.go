// Package sshkeys is the format of the SSH public keys that node-shell keeps in Node
// annotations, and the node side that turns a Node object into authorized_keys lines for
// sshd's AuthorizedKeysCommand (with a cache for when the apiserver cannot be reached).
package sshkeys

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

const (
	// Domain prefixes every annotation and label of this feature.
	Domain = "ssh.node-shell.io"
	// KeyPrefix starts the annotation of one key: ssh.node-shell.io/key-<id>.
	KeyPrefix = Domain + "/key-"
	// EnabledAnnotation marks a Node whose sshd asks node-shell-authorized-keys for keys
	// (set by `ssh setup`, removed by `ssh setup --undo`); its value is the setup's time.
	EnabledAnnotation = Domain + "/enabled"
	// maxIDLen keeps "key-" + id within an annotation name's 63 characters.
	maxIDLen = 59
)

var (
	idPattern   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	userPattern = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}$`)
)

// Key is one authorized key: who may log in as which user until when.
type Key struct {
	// ID names the key on the Node (the annotation is KeyPrefix+ID).
	ID string `json:"-"`
	// User is the login name on the node the key opens, e.g. root.
	User string `json:"user"`
	// Expires is when the key stops working, judged by the node's clock (nil: never).
	Expires *time.Time `json:"expires,omitempty"`
	// PublicKey is one public key in authorized_keys form, without options:
	// "ssh-ed25519 AAAA... comment".
	PublicKey string `json:"publicKey"`
	// AddedBy is who added the key, for `ssh-key list` and audits; informational only.
	AddedBy string `json:"addedBy,omitempty"`

	parsed ssh.PublicKey
}

// AnnotationName is the Node annotation that holds k.
func (k Key) AnnotationName() string { return KeyPrefix + k.ID }

// ValidateID checks a key id: lower-case letters, digits and dashes, at most 59.
func ValidateID(id string) error {
	if len(id) == 0 || len(id) > maxIDLen || !idPattern.MatchString(id) {
		return fmt.Errorf("key id %q must be 1-%d lower-case letters, digits or '-', starting and ending with a letter or digit", id, maxIDLen)
	}
	return nil
}

// ValidateUser checks a login name the way useradd's default does.
func ValidateUser(user string) error {
	if !userPattern.MatchString(user) {
		return fmt.Errorf("user %q is not a valid login name (lower-case letters, digits, '_', '.', '-'; at most 32)", user)
	}
	return nil
}

// NewKey validates and builds a key from its parts.
func NewKey(id, user string, expires *time.Time, publicKey, addedBy string) (Key, error) {
	k := Key{ID: id, User: user, Expires: expires, PublicKey: strings.TrimSpace(publicKey), AddedBy: addedBy}
	if expires != nil {
		t := expires.UTC().Truncate(time.Second)
		k.Expires = &t
	}
	return k, k.validate()
}

func (k *Key) validate() error {
	if err := ValidateID(k.ID); err != nil {
		return err
	}
	if err := ValidateUser(k.User); err != nil {
		return err
	}
	if strings.ContainsAny(k.PublicKey, "\r\n") {
		return fmt.Errorf("key %s: the public key must be one line", k.ID)
	}
	pub, _, options, rest, err := ssh.ParseAuthorizedKey([]byte(k.PublicKey))
	if err != nil {
		return fmt.Errorf("key %s: not a public key in authorized_keys form: %v", k.ID, err)
	}
	if len(options) > 0 {
		return fmt.Errorf("key %s: authorized_keys options (%s) are not allowed; node-shell sets its own", k.ID, strings.Join(options, ","))
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return fmt.Errorf("key %s: more than one key", k.ID)
	}
	if _, ok := pub.(ssh.CryptoPublicKey); !ok && !strings.HasPrefix(pub.Type(), "sk-") {
		return fmt.Errorf("key %s: key type %s is not supported", k.ID, pub.Type())
	}
	if strings.Contains(pub.Type(), "-cert-v01@") {
		return fmt.Errorf("key %s: certificates are not supported; give the plain public key", k.ID)
	}
	k.parsed = pub
	return nil
}

// Encode is the annotation value of k.
func (k Key) Encode() (string, error) {
	if err := k.validate(); err != nil {
		return "", err
	}
	data, err := json.Marshal(k)
	if err != nil {
		return "", err
	}
	return string(data), nil
}

// Parse reads one annotation. ok is false for an annotation that is not a key's; a key's
// annotation that does not validate is an error.
func Parse(name, value string) (k Key, ok bool, err error) {
	id, isKey := strings.CutPrefix(name, KeyPrefix)
	if !isKey {
		return Key{}, false, nil
	}
	dec := json.NewDecoder(strings.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&k); err != nil {
		return Key{}, true, fmt.Errorf("key %s: annotation value is not node-shell's key format: %v", id, err)
	}
	if dec.More() {
		return Key{}, true, fmt.Errorf("key %s: annotation value has data after the key", id)
	}
	k.ID = id
	if err := k.validate(); err != nil {
		return Key{}, true, err
	}
	return k, true, nil
}

// ParseAll reads every key annotation, sorted by id; invalid ones come back as errors,
// one each, and are left out.
func ParseAll(annotations map[string]string) ([]Key, []error) {
	var keys []Key
	var errs []error
	for name, value := range annotations {
		k, ok, err := Parse(name, value)
		switch {
		case err != nil:
			errs = append(errs, err)
		case ok:
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].ID < keys[j].ID })
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return keys, errs
}

// Fingerprint is the key's SHA256 fingerprint, as ssh-keygen -l prints it.
func (k Key) Fingerprint() string {
	if k.parsed == nil {
		if err := k.validate(); err != nil {
			return "invalid"
		}
	}
	return ssh.FingerprintSHA256(k.parsed)
}

// Expired reports whether k no longer opens the node at now.
func (k Key) Expired(now time.Time) bool {
	return k.Expires != nil && !now.Before(*k.Expires)
}

// AuthorizedKeysLine is k as sshd reads it: the key rebuilt from its parsed form (so no
// second line or option can be smuggled in), with OpenSSH's own expiry-time as a second
// guard, and the id as its comment.
func (k Key) AuthorizedKeysLine() string {
	var b strings.Builder
	if k.Expires != nil {
		// OpenSSH reads YYYYMMDDHHMMSS with a Z suffix as UTC.
		fmt.Fprintf(&b, "expiry-time=%q ", k.Expires.UTC().Format("20060102150405")+"Z")
	}
	b.WriteString(strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.parsed))))
	b.WriteString(" node-shell:" + k.ID)
	return b.String()
}

// Select returns the keys of annotations that open the node for user at now (as
// authorized_keys lines, sorted by id) and why each other key does not.
func Select(annotations map[string]string, user string, now time.Time) (lines []string, refused []string) {
	keys, errs := ParseAll(annotations)
	for _, err := range errs {
		refused = append(refused, "invalid: "+err.Error())
	}
	for _, k := range keys {
		switch {
		case k.User != user:
			// Other users' keys are none of this lookup's business: no line, no detail.
		case k.Expired(now):
			refused = append(refused, fmt.Sprintf("%s expired at %s", k.ID, k.Expires.Format(time.RFC3339)))
		default:
			lines = append(lines, k.AuthorizedKeysLine())
		}
	}
	return lines, refused
}
