// Package duroxide drives a real Duroxide for tests, benchmarks and the local run.
package duroxide
