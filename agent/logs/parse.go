package logs

import (
	"bytes"
	"fmt"
	"time"
)

// Stream names the output a log entry came from.
type Stream string

const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
)

// entry is one parsed line of a CRI log file.
type entry struct {
	ts      time.Time
	stream  Stream
	partial bool   // "P": the message continues in the next line of the stream
	msg     []byte // without the trailing newline
}

// parseLine parses "<RFC3339Nano> <stream> <tag> <message>". The message
// may be empty ("... F" or "... F ").
func parseLine(line []byte) (entry, error) {
	var e entry
	line = bytes.TrimSuffix(line, []byte("\n"))
	ts, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok {
		return e, fmt.Errorf("log line %q has no stream", line)
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return e, fmt.Errorf("log line %q: bad timestamp: %w", line, err)
	}
	e.ts = t
	stream, rest, ok := bytes.Cut(rest, []byte(" "))
	if !ok {
		return e, fmt.Errorf("log line %q has no tag", line)
	}
	switch s := Stream(stream); s {
	case Stdout, Stderr:
		e.stream = s
	default:
		return e, fmt.Errorf("log line %q: unknown stream %q", line, stream)
	}
	tag, msg, _ := bytes.Cut(rest, []byte(" "))
	// Tags may carry more flags after a colon (CRI reserves them); P is the first.
	switch string(bytes.SplitN(tag, []byte(":"), 2)[0]) {
	case "P":
		e.partial = true
	case "F":
	default:
		return e, fmt.Errorf("log line %q: unknown tag %q", line, tag)
	}
	e.msg = msg
	return e, nil
}

// joiner merges partial lines of each stream into whole ones; a whole
// entry carries the time of its first part.
type joiner struct {
	pending map[Stream]*entry
}

// add takes one parsed line and returns the whole entry it completes, if any.
func (j *joiner) add(e entry) (entry, bool) {
	if j.pending == nil {
		j.pending = map[Stream]*entry{}
	}
	if p := j.pending[e.stream]; p != nil {
		p.msg = append(p.msg, e.msg...)
		if e.partial {
			return entry{}, false
		}
		delete(j.pending, e.stream)
		p.partial = false
		return *p, true
	}
	if e.partial {
		c := e
		c.msg = append([]byte(nil), e.msg...)
		j.pending[e.stream] = &c
		return entry{}, false
	}
	return e, true
}
