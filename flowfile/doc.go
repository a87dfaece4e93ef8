// Package flowfile writes reassembled TCP streams to files named as tcpflow
// names them, one file per direction that carried payload.
package flowfile
