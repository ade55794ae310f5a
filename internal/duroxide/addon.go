package duroxide

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// The addon this package drives: the prebuilt native module of
// microsoft/duroxide-node for linux x64 (glibc).
const (
	AddonPackage = "duroxide-linux-x64-gnu"
	AddonVersion = "0.1.29"
	addonFile    = "duroxide.linux-x64-gnu.node"
)

// NPMCacheDir is where the addon is installed: $DUROSCOPE_NPM_CACHE, or
// ~/.cache/duroscope/npm. It lives outside the repository so that a clean
// clone downloads it once per machine.
func NPMCacheDir() (string, error) {
	if dir := os.Getenv("DUROSCOPE_NPM_CACHE"); dir != "" {
		return dir, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("locate the npm cache: %w", err)
	}
	return filepath.Join(home, ".cache", "duroscope", "npm"), nil
}

// EnsureAddon returns the path of the addon's .node file, installing
// duroxide-linux-x64-gnu@0.1.29 with npm into NPMCacheDir when it is missing
// or another version. Concurrent callers (parallel test binaries) serialise
// on a lock file in the cache directory. It fails clearly when node or npm
// is not installed.
func EnsureAddon(ctx context.Context) (string, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return "", fmt.Errorf("duroxide: node (>= 18) is required to drive Duroxide and is not on PATH: %w", err)
	}
	dir, err := NPMCacheDir()
	if err != nil {
		return "", err
	}
	pkgDir := filepath.Join(dir, "node_modules", AddonPackage)
	addon := filepath.Join(pkgDir, addonFile)
	if installed(pkgDir) {
		return addon, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("duroxide: create the npm cache %s: %w", dir, err)
	}
	unlock, err := lockFile(filepath.Join(dir, ".duroscope-install.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if installed(pkgDir) { // another process installed it while we waited
		return addon, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("duroxide: %s is not in %s and npm is not on PATH to install it: %w", AddonPackage, dir, err)
	}
	cmd := exec.CommandContext(ctx, npm, "install", "--prefix", dir, "--no-save", "--no-audit", "--no-fund",
		AddonPackage+"@"+AddonVersion)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("duroxide: npm install %s@%s into %s: %w\n%s", AddonPackage, AddonVersion, dir, err, tail(out))
	}
	if !installed(pkgDir) {
		return "", fmt.Errorf("duroxide: npm install %s@%s succeeded but %s is missing", AddonPackage, AddonVersion, addon)
	}
	return addon, nil
}

// installed reports whether pkgDir holds the pinned version with its binary.
func installed(pkgDir string) bool {
	raw, err := os.ReadFile(filepath.Join(pkgDir, "package.json"))
	if err != nil {
		return false
	}
	var pkg struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(raw, &pkg) != nil || pkg.Version != AddonVersion {
		return false
	}
	_, err = os.Stat(filepath.Join(pkgDir, addonFile))
	return err == nil
}

// lockFile takes an exclusive flock on path and returns its release.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("duroxide: open lock %s: %w", path, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("duroxide: lock %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// writeDriver materialises the embedded driver sources in a directory named
// after their content hash, so that every version of this package runs its
// own driver and concurrent writers never see a half-written file.
func writeDriver(cacheDir string) (string, error) {
	hash, err := driverHash()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cacheDir, "driver-"+hash)
	if _, err := os.Stat(filepath.Join(dir, driverMain)); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("duroxide: create %s: %w", cacheDir, err)
	}
	tmp, err := os.MkdirTemp(cacheDir, ".driver-")
	if err != nil {
		return "", fmt.Errorf("duroxide: stage the driver: %w", err)
	}
	sub, err := fs.Sub(driverFS, "driver")
	if err != nil {
		return "", fmt.Errorf("duroxide: embedded driver: %w", err)
	}
	if err := os.CopyFS(tmp, sub); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("duroxide: write the driver into %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if _, statErr := os.Stat(filepath.Join(dir, driverMain)); statErr == nil {
			return dir, nil // a concurrent writer won the rename
		}
		return "", fmt.Errorf("duroxide: install the driver into %s: %w", dir, err)
	}
	return dir, nil
}
