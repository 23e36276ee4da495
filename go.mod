module github.com/trail-audit/trail

go 1.26.0

require (
	github.com/transparency-dev/merkle v0.0.2 // indirect
	golang.org/x/mod v0.42.0 // indirect
)
