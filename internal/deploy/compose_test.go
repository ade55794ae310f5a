// Package deploy checks the deployment files at the repository root
// (docker-compose.yml and what it mounts) as far as that is possible
// without a Docker engine.
package deploy

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// root is the repository root, relative to this package.
const root = "../.."

// minClickHouseMajor is the oldest release the compose file may pin: a
// current one (the 18.16 line is covered by the test suite's own server).
const minClickHouseMajor = 24

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	DependsOn   any               `yaml:"depends_on"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yml does not parse: %v", err)
	}
	for _, want := range []string{"nats", "clickhouse", "projector", "query"} {
		if _, ok := c.Services[want]; !ok {
			t.Fatalf("docker-compose.yml has no service %q", want)
		}
	}
	return c
}

// TestComposeClickHouseImage: the pinned ClickHouse is a full, current
// release, and docs/clickhouse-versions.md names the same one.
func TestComposeClickHouseImage(t *testing.T) {
	c := loadCompose(t)
	img := c.Services["clickhouse"].Image
	m := regexp.MustCompile(`^clickhouse/clickhouse-server:(\d+)\.(\d+)\.\d+\.\d+$`).FindStringSubmatch(img)
	if m == nil {
		t.Fatalf("clickhouse image %q: want clickhouse/clickhouse-server pinned to a full version (major.minor.patch.build)", img)
	}
	if major, _ := strconv.Atoi(m[1]); major < minClickHouseMajor {
		t.Errorf("clickhouse image %q: want a current release (>= %d)", img, minClickHouseMajor)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "clickhouse-versions.md"))
	if err != nil {
		t.Fatal(err)
	}
	tag := strings.TrimPrefix(img, "clickhouse/clickhouse-server:")
	if !strings.Contains(string(doc), tag) {
		t.Errorf("docs/clickhouse-versions.md does not name the pinned ClickHouse %s", tag)
	}
}

// TestComposeMounts: every file mounted from the repository exists, and
// every named volume is declared.
func TestComposeMounts(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
				continue
			}
			if _, ok := c.Volumes[src]; !ok {
				t.Errorf("service %s uses volume %q, which is not declared", name, src)
			}
		}
	}
}

// xmlNode is a generic XML element.
type xmlNode struct {
	XMLName  xml.Name
	Text     string    `xml:",chardata"`
	Children []xmlNode `xml:",any"`
}

func (n xmlNode) child(name string) (xmlNode, bool) {
	for _, c := range n.Children {
		if c.XMLName.Local == name {
			return c, true
		}
	}
	return xmlNode{}, false
}

func (n xmlNode) text(path ...string) string {
	for _, p := range path {
		c, ok := n.child(p)
		if !ok {
			return ""
		}
		n = c
	}
	return strings.TrimSpace(n.Text)
}

// TestComposeReaderAccount: the users.d file mounted into the ClickHouse
// container is well-formed, has the root element current servers' own
// users.xml has (<clickhouse>; <yandex> is the 18.16-era name), and defines
// the account the query service logs in with: its password, a profile with
// readonly=2, and access to the database the services use.
func TestComposeReaderAccount(t *testing.T) {
	c := loadCompose(t)
	var src string
	for _, v := range c.Services["clickhouse"].Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && strings.HasPrefix(parts[1], "/etc/clickhouse-server/users.d/") {
			if !strings.HasSuffix(parts[1], ".xml") {
				t.Errorf("%s: users.d files must end in .xml to be read", parts[1])
			}
			src = parts[0]
		}
	}
	if src == "" {
		t.Fatal("the clickhouse service mounts no file into /etc/clickhouse-server/users.d/")
	}
	b, err := os.ReadFile(filepath.Join(root, src))
	if err != nil {
		t.Fatal(err)
	}
	var doc xmlNode
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s is not well-formed XML: %v", src, err)
	}
	if doc.XMLName.Local != "clickhouse" {
		t.Errorf("%s: root element <%s>, want <clickhouse> (the root of the image's users.xml)", src, doc.XMLName.Local)
	}
	q := c.Services["query"].Environment
	user, password, db := q["DUROSCOPE_CLICKHOUSE_USER"], q["DUROSCOPE_CLICKHOUSE_PASSWORD"], q["DUROSCOPE_CLICKHOUSE_DATABASE"]
	users, _ := doc.child("users")
	u, ok := users.child(user)
	if !ok {
		t.Fatalf("%s defines no user %q (the query service's DUROSCOPE_CLICKHOUSE_USER)", src, user)
	}
	if got := u.text("password"); got != password {
		t.Errorf("%s: user %s has password %q; the query service uses %q", src, user, got, password)
	}
	if _, ok := u.child("networks"); !ok {
		t.Errorf("%s: user %s has no <networks>: it could not log in from the query container", src, user)
	}
	profile := u.text("profile")
	if got := doc.text("profiles", profile, "readonly"); got != "2" {
		t.Errorf("%s: profile %q of user %s has readonly %q, want 2 (reads only, per-query settings allowed)", src, profile, user, got)
	}
	if dbs, ok := u.child("allow_databases"); ok {
		var allowed []string
		for _, d := range dbs.Children {
			allowed = append(allowed, strings.TrimSpace(d.Text))
		}
		if !slices.Contains(allowed, db) {
			t.Errorf("%s: user %s may use databases %v, not %q (DUROSCOPE_CLICKHOUSE_DATABASE)", src, user, allowed, db)
		}
	}
	if got := c.Services["clickhouse"].Environment["CLICKHOUSE_DB"]; got != db {
		t.Errorf("clickhouse creates database %q (CLICKHOUSE_DB), the services use %q", got, db)
	}
}

// TestComposeServiceConfig: every service built from this repository runs
// a binary of cmd/ with flags and DUROSCOPE_* variables that binary knows
// (read from its own -help, which lists each flag with its variable), its
// HTTP address is the container port it publishes, and the addresses it is
// given name services of the compose file.
func TestComposeServiceConfig(t *testing.T) {
	c := loadCompose(t)
	bins := map[string]bool{}
	for _, s := range c.Services {
		if s.Build != nil && len(s.Command) > 0 {
			bins[s.Command[0]] = true
		}
	}
	dir := t.TempDir()
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	for b := range bins {
		args = append(args, "./cmd/"+b)
	}
	build := exec.Command(goTool(), args...)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	flagRe := regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`)
	envRe := regexp.MustCompile(`DUROSCOPE_[A-Z0-9_]+`)
	for name, s := range c.Services {
		if s.Build == nil {
			continue
		}
		help, err := exec.Command(filepath.Join(dir, s.Command[0]), "-help").CombinedOutput()
		if err != nil {
			t.Fatalf("%s -help: %v\n%s", s.Command[0], err, help)
		}
		flags := map[string]bool{}
		for _, m := range flagRe.FindAllStringSubmatch(string(help), -1) {
			flags[m[1]] = true
		}
		envs := map[string]bool{}
		for _, m := range envRe.FindAllString(string(help), -1) {
			envs[m] = true
		}
		httpAddr := ""
		for i := 1; i < len(s.Command); i++ {
			a := s.Command[i]
			if !strings.HasPrefix(a, "-") {
				continue // the previous flag's value
			}
			f, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if !flags[f] {
				t.Errorf("service %s: %s does not know the flag %s", name, s.Command[0], a)
			}
			if !hasVal && i+1 < len(s.Command) && !strings.HasPrefix(s.Command[i+1], "-") {
				val = s.Command[i+1]
			}
			if f == "http-addr" {
				httpAddr = val
			}
		}
		for k, v := range s.Environment {
			if !strings.HasPrefix(k, "DUROSCOPE_") {
				continue
			}
			if !envs[k] {
				t.Errorf("service %s: %s does not read %s", name, s.Command[0], k)
			}
			if strings.HasSuffix(k, "_HTTP_ADDR") && httpAddr == "" {
				httpAddr = v
			}
		}
		if httpAddr != "" {
			_, port, _ := strings.Cut(httpAddr, ":")
			published := false
			for _, p := range s.Ports {
				if strings.HasSuffix(p, ":"+port) {
					published = true
				}
			}
			if !published {
				t.Errorf("service %s listens on %s but publishes %v", name, httpAddr, s.Ports)
			}
		}
		for _, k := range []string{"DUROSCOPE_CLICKHOUSE_ADDR", "DUROSCOPE_NATS_URL"} {
			v := s.Environment[k]
			if v == "" {
				continue
			}
			host := strings.TrimPrefix(v, "nats://")
			host, _, _ = strings.Cut(host, ":")
			if _, ok := c.Services[host]; !ok {
				t.Errorf("service %s: %s=%s names no service of the compose file", name, k, v)
			}
		}
	}
}

// goTool is the go command of the toolchain running the test.
func goTool() string {
	if p := filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") != "" {
		return p
	}
	return "go"
}
