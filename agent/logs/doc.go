// Package logs reads and rotates the container log files a CRI runtime
// writes (one line per chunk: "<RFC3339Nano> stdout|stderr F|P <message>").
//
// Read serves kubectl logs with kubelet's options (follow, tail, since,
// timestamps, limitBytes), following a file across rotation; Rotate keeps
// the files of a container under a size bound, the runtime reopening the
// file after each rename (CRI ReopenContainerLog).
package logs
