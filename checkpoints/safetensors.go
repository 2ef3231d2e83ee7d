package checkpoints

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"unicode/utf8"
)

// DType is the element type of a tensor, spelled as in a safetensors header.
type DType string

// The dtypes this package reads and writes. Other safetensors dtypes (F16,
// BF16, I32, ...) are reported as unsupported by the reader.
const (
	F32 DType = "F32" // IEEE 754 binary32, little-endian
	F64 DType = "F64" // IEEE 754 binary64, little-endian
	I64 DType = "I64" // two's-complement int64, little-endian
)

// size is the number of bytes per element, 0 for an unsupported dtype.
func (d DType) size() int64 {
	switch d {
	case F32:
		return 4
	case F64, I64:
		return 8
	}
	return 0
}

// otherDTypes are valid safetensors dtypes that this package does not load.
var otherDTypes = []string{"BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4",
	"I16", "U16", "F16", "BF16", "I32", "U32", "U64", "C64"}

// metadataKey is the reserved header key holding the string-to-string metadata.
const metadataKey = "__metadata__"

// maxHeaderLen bounds the JSON header, as the reference implementation does
// (100 MB), so a corrupt length cannot make the reader allocate gigabytes.
const maxHeaderLen = 100 << 20

// chunkSize is the size of the buffer through which tensor data is encoded
// and decoded, so no copy of a whole tensor is ever made.
const chunkSize = 64 << 10

// Tensor is a named dense row-major tensor. Exactly one of F32, F64 and I64
// is non-nil and holds the elements; its length is the product of Shape (1
// for the scalar shape []). An empty tensor (a zero in Shape) still needs a
// non-nil empty slice, which is how its dtype is known.
type Tensor struct {
	Name  string
	Shape []int
	F32   []float32
	F64   []float64
	I64   []int64
}

// DType returns the dtype given by whichever data slice is set, or "" when
// none or several are.
func (t *Tensor) DType() DType {
	var d DType
	n := 0
	if t.F32 != nil {
		d, n = F32, n+1
	}
	if t.F64 != nil {
		d, n = F64, n+1
	}
	if t.I64 != nil {
		d, n = I64, n+1
	}
	if n != 1 {
		return ""
	}
	return d
}

// Len returns the number of elements in the data slice that is set.
func (t *Tensor) Len() int {
	switch t.DType() {
	case F32:
		return len(t.F32)
	case F64:
		return len(t.F64)
	case I64:
		return len(t.I64)
	}
	return 0
}

// numElements returns the product of shape, or false if a dimension is
// negative or the product exceeds limit (which also rules out overflow).
func numElements(shape []int, limit int64) (int64, bool) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d == 0 {
			n = 0
		}
	}
	if n == 0 {
		return 0, true
	}
	for _, d := range shape {
		if int64(d) > limit/n {
			return 0, false
		}
		n *= int64(d)
	}
	return n, true
}

// validate reports an inconsistent tensor as an error wrapping ErrInvalidTensor.
func (t *Tensor) validate() error {
	if t.Name == metadataKey {
		return fmt.Errorf("tensor name %q is reserved: %w", t.Name, ErrInvalidTensor)
	}
	if !utf8.ValidString(t.Name) {
		return fmt.Errorf("tensor name %q is not valid UTF-8: %w", t.Name, ErrInvalidTensor)
	}
	d := t.DType()
	if d == "" {
		return fmt.Errorf("tensor %q: exactly one of F32, F64, I64 must be non-nil: %w", t.Name, ErrInvalidTensor)
	}
	n, ok := numElements(t.Shape, math.MaxInt64/8)
	if !ok {
		return fmt.Errorf("tensor %q: invalid shape %v: %w", t.Name, t.Shape, ErrInvalidTensor)
	}
	if int64(t.Len()) != n {
		return fmt.Errorf("tensor %q: %d elements for shape %v (want %d): %w", t.Name, t.Len(), t.Shape, n, ErrInvalidTensor)
	}
	return nil
}

// WriteSafetensors writes tensors to w in the safetensors format: an 8-byte
// little-endian header length, a compact JSON header padded with spaces to a
// multiple of 8 bytes (so the data area is 8-byte aligned), then the raw
// little-endian data of each tensor, in name order.
//
// The header lists "__metadata__" first (omitted when metadata is empty, keys
// sorted), then each tensor as {"dtype":...,"shape":[...],"data_offsets":[begin,end]}
// in name order, the layout the Hugging Face safetensors library writes. The
// caller's slice is not reordered. An inconsistent tensor, a duplicate name
// or invalid UTF-8 gives an error wrapping ErrInvalidTensor before anything
// is written. Data is encoded through a small buffer; no tensor is copied.
func WriteSafetensors(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	order, err := sortedTensors(tensors)
	if err != nil {
		return fmt.Errorf("checkpoints: write safetensors: %w", err)
	}
	header, err := encodeHeader(tensors, order, metadata)
	if err != nil {
		return fmt.Errorf("checkpoints: write safetensors: %w", err)
	}
	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(len(header)))
	if _, err := w.Write(prefix[:]); err != nil {
		return fmt.Errorf("checkpoints: write safetensors: %w", err)
	}
	if _, err := w.Write(header); err != nil {
		return fmt.Errorf("checkpoints: write safetensors: %w", err)
	}
	buf := make([]byte, chunkSize)
	for _, i := range order {
		if err := writeData(w, &tensors[i], buf); err != nil {
			return fmt.Errorf("checkpoints: write safetensors: tensor %q: %w", tensors[i].Name, err)
		}
	}
	return nil
}

// sortedTensors validates tensors and returns their indices in name order.
func sortedTensors(tensors []Tensor) ([]int, error) {
	order := make([]int, len(tensors))
	for i := range tensors {
		if err := tensors[i].validate(); err != nil {
			return nil, err
		}
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(tensors[a].Name, tensors[b].Name) })
	for k := 1; k < len(order); k++ {
		if tensors[order[k]].Name == tensors[order[k-1]].Name {
			return nil, fmt.Errorf("duplicate tensor name %q: %w", tensors[order[k]].Name, ErrInvalidTensor)
		}
	}
	return order, nil
}

// encodeHeader returns the padded JSON header for tensors taken in order.
func encodeHeader(tensors []Tensor, order []int, metadata map[string]string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			if !utf8.ValidString(k) || !utf8.ValidString(metadata[k]) {
				return nil, fmt.Errorf("metadata %q: not valid UTF-8: %w", k, ErrInvalidTensor)
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		writeJSONString(&b, metadataKey)
		b.WriteString(":{")
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(&b, k)
			b.WriteByte(':')
			writeJSONString(&b, metadata[k])
		}
		b.WriteByte('}')
	}
	var offset int64
	for k, i := range order {
		t := &tensors[i]
		if k > 0 || len(metadata) > 0 {
			b.WriteByte(',')
		}
		d := t.DType()
		end := offset + int64(t.Len())*d.size()
		writeJSONString(&b, t.Name)
		b.WriteString(`:{"dtype":"`)
		b.WriteString(string(d))
		b.WriteString(`","shape":[`)
		for j, s := range t.Shape {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(s))
		}
		b.WriteString(`],"data_offsets":[`)
		b.WriteString(strconv.FormatInt(offset, 10))
		b.WriteByte(',')
		b.WriteString(strconv.FormatInt(end, 10))
		b.WriteString("]}")
		offset = end
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	return b.Bytes(), nil
}

// writeJSONString writes s as a JSON string without HTML escaping.
func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // cannot fail for a string; Encode appends '\n'
	b.Truncate(b.Len() - 1)
}

// writeData writes t's elements little-endian through buf.
func writeData(w io.Writer, t *Tensor, buf []byte) error {
	n := 0
	flush := func() error {
		_, err := w.Write(buf[:n])
		n = 0
		return err
	}
	switch t.DType() {
	case F32:
		for _, v := range t.F32 {
			if n == len(buf) {
				if err := flush(); err != nil {
					return err
				}
			}
			binary.LittleEndian.PutUint32(buf[n:], math.Float32bits(v))
			n += 4
		}
	case F64:
		for _, v := range t.F64 {
			if n == len(buf) {
				if err := flush(); err != nil {
					return err
				}
			}
			binary.LittleEndian.PutUint64(buf[n:], math.Float64bits(v))
			n += 8
		}
	case I64:
		for _, v := range t.I64 {
			if n == len(buf) {
				if err := flush(); err != nil {
					return err
				}
			}
			binary.LittleEndian.PutUint64(buf[n:], uint64(v))
			n += 8
		}
	}
	if n > 0 {
		return flush()
	}
	return nil
}

// ReadSafetensors reads a safetensors file. Tensors come back in name order,
// metadata is nil when the header has no "__metadata__". Errors name the path
// and wrap ErrTruncated, ErrHeader or (for a missing file) fs.ErrNotExist.
func ReadSafetensors(path string) ([]Tensor, map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoints: read safetensors: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoints: read safetensors: %w", err)
	}
	ts, meta, err := decode(f, fi.Size())
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoints: read %s: %w", path, err)
	}
	return ts, meta, nil
}

// DecodeSafetensors reads a safetensors file of exactly size bytes from r,
// reading sequentially (r need not seek). The whole header and layout are
// validated before any tensor is allocated, so no allocation exceeds size.
// Tensors come back in name order. Errors wrap ErrTruncated or ErrHeader.
func DecodeSafetensors(r io.Reader, size int64) ([]Tensor, map[string]string, error) {
	ts, meta, err := decode(r, size)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoints: decode safetensors: %w", err)
	}
	return ts, meta, nil
}

// entry is one tensor as described by the header.
type entry struct {
	name       string
	dtype      DType
	shape      []int
	begin, end int64
}

func decode(r io.Reader, size int64) ([]Tensor, map[string]string, error) {
	if size < 8 {
		return nil, nil, fmt.Errorf("file has %d bytes, fewer than the 8-byte header length: %w", size, ErrTruncated)
	}
	var prefix [8]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return nil, nil, readErr(err)
	}
	n := binary.LittleEndian.Uint64(prefix[:])
	if n > uint64(size-8) {
		return nil, nil, fmt.Errorf("header length %d exceeds the %d bytes after the length prefix: %w", n, size-8, ErrTruncated)
	}
	if n > maxHeaderLen {
		return nil, nil, fmt.Errorf("header length %d exceeds the limit of %d bytes: %w", n, maxHeaderLen, ErrHeader)
	}
	header := make([]byte, n)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, nil, readErr(err)
	}
	entries, meta, err := parseHeader(header)
	if err != nil {
		return nil, nil, err
	}
	if err := checkLayout(entries, size-8-int64(n)); err != nil {
		return nil, nil, err
	}
	// entries are now in data order; read them sequentially.
	tensors := make([]Tensor, len(entries))
	buf := make([]byte, chunkSize)
	for i, e := range entries {
		t := Tensor{Name: e.name, Shape: e.shape}
		count := (e.end - e.begin) / e.dtype.size()
		switch e.dtype {
		case F32:
			t.F32 = make([]float32, count)
		case F64:
			t.F64 = make([]float64, count)
		case I64:
			t.I64 = make([]int64, count)
		}
		if err := readData(r, &t, buf); err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", e.name, readErr(err))
		}
		tensors[i] = t
	}
	slices.SortFunc(tensors, func(a, b Tensor) int { return cmp.Compare(a.Name, b.Name) })
	return tensors, meta, nil
}

// readErr marks an early end of input as truncation.
func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("unexpected end of file: %w", ErrTruncated)
	}
	return err
}

// readData fills t's (allocated) data slice from r through buf.
func readData(r io.Reader, t *Tensor, buf []byte) error {
	switch t.DType() {
	case F32:
		for i := 0; i < len(t.F32); {
			m := min(len(buf)/4, len(t.F32)-i)
			if _, err := io.ReadFull(r, buf[:4*m]); err != nil {
				return err
			}
			for j := range m {
				t.F32[i+j] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*j:]))
			}
			i += m
		}
	case F64:
		for i := 0; i < len(t.F64); {
			m := min(len(buf)/8, len(t.F64)-i)
			if _, err := io.ReadFull(r, buf[:8*m]); err != nil {
				return err
			}
			for j := range m {
				t.F64[i+j] = math.Float64frombits(binary.LittleEndian.Uint64(buf[8*j:]))
			}
			i += m
		}
	case I64:
		for i := 0; i < len(t.I64); {
			m := min(len(buf)/8, len(t.I64)-i)
			if _, err := io.ReadFull(r, buf[:8*m]); err != nil {
				return err
			}
			for j := range m {
				t.I64[i+j] = int64(binary.LittleEndian.Uint64(buf[8*j:]))
			}
			i += m
		}
	}
	return nil
}

// checkLayout sorts entries by offset and checks that they tile the data area
// [0, dataLen) exactly, each covering the bytes its dtype and shape need.
func checkLayout(entries []entry, dataLen int64) error {
	slices.SortFunc(entries, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.begin, b.begin), cmp.Compare(a.end, b.end), cmp.Compare(a.name, b.name))
	})
	var next int64 // where the next tensor must begin
	var prev string
	for _, e := range entries {
		if e.end < e.begin {
			return fmt.Errorf("tensor %q: data_offsets [%d,%d] end before they begin: %w", e.name, e.begin, e.end, ErrHeader)
		}
		if e.begin < next {
			return fmt.Errorf("tensor %q: data_offsets [%d,%d] overlap tensor %q ending at %d: %w", e.name, e.begin, e.end, prev, next, ErrHeader)
		}
		if e.begin > next {
			return fmt.Errorf("tensor %q: data_offsets [%d,%d] leave a gap after byte %d: %w", e.name, e.begin, e.end, next, ErrHeader)
		}
		sz := e.dtype.size()
		n, ok := numElements(e.shape, math.MaxInt64/sz)
		if !ok {
			return fmt.Errorf("tensor %q: shape %v is too large: %w", e.name, e.shape, ErrHeader)
		}
		if e.end-e.begin != n*sz {
			return fmt.Errorf("tensor %q: data_offsets [%d,%d] span %d bytes but %s shape %v needs %d: %w",
				e.name, e.begin, e.end, e.end-e.begin, e.dtype, e.shape, n*sz, ErrHeader)
		}
		if e.end > dataLen {
			return fmt.Errorf("tensor %q: data_offsets [%d,%d] reach past the %d-byte data area (file truncated or offsets out of range): %w",
				e.name, e.begin, e.end, dataLen, ErrTruncated)
		}
		next, prev = e.end, e.name
	}
	if next != dataLen {
		return fmt.Errorf("data area has %d bytes but tensors cover %d: %w", dataLen, next, ErrHeader)
	}
	return nil
}

// parseHeader parses the JSON header strictly: an object whose keys are
// unique, "__metadata__" a string-to-string object, every other key a tensor
// with exactly dtype, shape and data_offsets; trailing whitespace allowed.
func parseHeader(h []byte) ([]entry, map[string]string, error) {
	if len(h) == 0 || h[0] != '{' {
		return nil, nil, fmt.Errorf("header does not start with '{': %w", ErrHeader)
	}
	if !utf8.Valid(h) {
		return nil, nil, fmt.Errorf("header is not valid UTF-8: %w", ErrHeader)
	}
	p := headerParser{dec: json.NewDecoder(bytes.NewReader(h))}
	p.dec.UseNumber()
	var entries []entry
	var meta map[string]string
	seen := make(map[string]bool)
	if err := p.delim('{'); err != nil {
		return nil, nil, err
	}
	for p.dec.More() {
		key, err := p.str()
		if err != nil {
			return nil, nil, err
		}
		if seen[key] {
			return nil, nil, fmt.Errorf("duplicate key %q: %w", key, ErrHeader)
		}
		seen[key] = true
		if key == metadataKey {
			if meta, err = p.metadata(); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", metadataKey, err)
			}
			continue
		}
		e, err := p.entry(key)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", key, err)
		}
		entries = append(entries, e)
	}
	if err := p.delim('}'); err != nil {
		return nil, nil, err
	}
	for _, c := range h[p.dec.InputOffset():] {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return nil, nil, fmt.Errorf("non-space byte %q after the header object: %w", c, ErrHeader)
		}
	}
	return entries, meta, nil
}

// headerParser walks the header's JSON tokens.
type headerParser struct{ dec *json.Decoder }

func (p *headerParser) token() (json.Token, error) {
	t, err := p.dec.Token()
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %v: %w", err, ErrHeader)
	}
	return t, nil
}

func (p *headerParser) delim(want json.Delim) error {
	t, err := p.token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return fmt.Errorf("got %v, want '%c': %w", t, rune(want), ErrHeader)
	}
	return nil
}

func (p *headerParser) str() (string, error) {
	t, err := p.token()
	if err != nil {
		return "", err
	}
	s, ok := t.(string)
	if !ok {
		return "", fmt.Errorf("got %v, want a string: %w", t, ErrHeader)
	}
	return s, nil
}

func (p *headerParser) metadata() (map[string]string, error) {
	if err := p.delim('{'); err != nil {
		return nil, err
	}
	m := make(map[string]string)
	for p.dec.More() {
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("duplicate key %q: %w", k, ErrHeader)
		}
		v, err := p.str()
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		m[k] = v
	}
	return m, p.delim('}')
}

func (p *headerParser) ints(limit int64) ([]int64, error) {
	if err := p.delim('['); err != nil {
		return nil, err
	}
	out := []int64{}
	for p.dec.More() {
		t, err := p.token()
		if err != nil {
			return nil, err
		}
		num, ok := t.(json.Number)
		if !ok {
			return nil, fmt.Errorf("got %v, want an integer: %w", t, ErrHeader)
		}
		v, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil || v < 0 || v > limit {
			return nil, fmt.Errorf("got %s, want an integer in [0, %d]: %w", num, limit, ErrHeader)
		}
		out = append(out, v)
	}
	return out, p.delim(']')
}

func (p *headerParser) entry(name string) (entry, error) {
	e := entry{name: name}
	if err := p.delim('{'); err != nil {
		return e, err
	}
	var haveDType, haveShape, haveOffsets bool
	for p.dec.More() {
		k, err := p.str()
		if err != nil {
			return e, err
		}
		switch k {
		case "dtype":
			if haveDType {
				return e, fmt.Errorf("duplicate key %q: %w", k, ErrHeader)
			}
			haveDType = true
			s, err := p.str()
			if err != nil {
				return e, fmt.Errorf("dtype: %w", err)
			}
			e.dtype = DType(s)
			if e.dtype.size() == 0 {
				if slices.Contains(otherDTypes, s) {
					return e, fmt.Errorf("unsupported dtype %q (want F32, F64 or I64): %w", s, ErrHeader)
				}
				return e, fmt.Errorf("unknown dtype %q: %w", s, ErrHeader)
			}
		case "shape":
			if haveShape {
				return e, fmt.Errorf("duplicate key %q: %w", k, ErrHeader)
			}
			haveShape = true
			dims, err := p.ints(math.MaxInt)
			if err != nil {
				return e, fmt.Errorf("shape: %w", err)
			}
			e.shape = make([]int, len(dims))
			for i, d := range dims {
				e.shape[i] = int(d)
			}
		case "data_offsets":
			if haveOffsets {
				return e, fmt.Errorf("duplicate key %q: %w", k, ErrHeader)
			}
			haveOffsets = true
			offs, err := p.ints(math.MaxInt64)
			if err != nil {
				return e, fmt.Errorf("data_offsets: %w", err)
			}
			if len(offs) != 2 {
				return e, fmt.Errorf("data_offsets has %d values, want 2: %w", len(offs), ErrHeader)
			}
			e.begin, e.end = offs[0], offs[1]
		default:
			return e, fmt.Errorf("unknown key %q: %w", k, ErrHeader)
		}
	}
	if err := p.delim('}'); err != nil {
		return e, err
	}
	switch {
	case !haveDType:
		return e, fmt.Errorf("missing dtype: %w", ErrHeader)
	case !haveShape:
		return e, fmt.Errorf("missing shape: %w", ErrHeader)
	case !haveOffsets:
		return e, fmt.Errorf("missing data_offsets: %w", ErrHeader)
	}
	return e, nil
}
