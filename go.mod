module github.com/trail-audit/trail

go 1.26.0

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/transparency-dev/merkle v0.0.2
	golang.org/x/mod v0.42.0
	golang.org/x/sys v0.49.0 // indirect
)
