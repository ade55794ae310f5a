// Package archtest holds the import rules of the layers (archtest_test.go):
// data flows one way, source → stream → events → projection → readmodel →
// query side → cmd, and a rule here fails the build's tests when an import
// goes against it. It has no code of its own.
package archtest
