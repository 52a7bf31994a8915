package savedmodel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/klauspost/compress/snappy"
)

// A TensorBundle index (variables.index) is a table in LevelDB's SSTable
// format, which TensorFlow copied into tensorflow/core/lib/io/table:
//
//	[data block 1][trailer] ... [data block N][trailer]
//	[metaindex block][trailer] [index block][trailer] [footer: 48 bytes]
//
// The footer holds the metaindex and index block handles (two varints
// each), zero padding to 40 bytes and the 8-byte magic. The index block
// maps a separator key to the handle of each data block. Every block is
// followed by a 5-byte trailer: a compression type byte and the masked
// CRC32C of the block contents plus that type byte.

const (
	tableMagic      = 0xdb4775248b80fb57
	footerLen       = 48
	blockTrailerLen = 5
	maxVarintLen64  = binary.MaxVarintLen64

	blockNoCompression     = 0
	blockSnappyCompression = 1

	// maxSnappyRatio bounds the decoded size of a compressed block relative
	// to its stored size, so a forged length header cannot make us allocate
	// more than a small multiple of the file. Snappy's best case (a 64-byte
	// copy in a 2-byte tag) is 32x.
	maxSnappyRatio = 32

	// maxKeyExpansion bounds the total length of a block's decoded keys
	// relative to the block (see blockEntries).
	maxKeyExpansion = 64
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maskCRC is LevelDB's and TensorFlow's checksum masking: a CRC stored
// next to the data it covers is rotated and offset so that computing the
// CRC of a string that contains embedded CRCs stays well distributed.
func maskCRC(crc uint32) uint32 { return ((crc >> 15) | (crc << 17)) + 0xa282ead8 }

type blockHandle struct{ offset, size uint64 }

// decodeHandle reads a block handle (two varints) from p and returns the
// rest of p.
func decodeHandle(p []byte) (blockHandle, []byte, error) {
	off, n := binary.Uvarint(p)
	if n <= 0 {
		return blockHandle{}, nil, errors.New("bad block handle offset")
	}
	p = p[n:]
	size, n := binary.Uvarint(p)
	if n <= 0 {
		return blockHandle{}, nil, errors.New("bad block handle size")
	}
	return blockHandle{off, size}, p[n:], nil
}

// tableEntry is one key/value pair of a table, in key order.
type tableEntry struct {
	key, value []byte
}

// readTable parses a whole SSTable held in data and returns its entries in
// order. Every block's checksum is verified; keys must be strictly
// increasing. Errors do not name the file; the caller adds it.
func readTable(data []byte) ([]tableEntry, error) {
	if len(data) < footerLen {
		return nil, fmt.Errorf("file is %d bytes, shorter than a table footer (%d)", len(data), footerLen)
	}
	footer := data[len(data)-footerLen:]
	if m := binary.LittleEndian.Uint64(footer[footerLen-8:]); m != tableMagic {
		return nil, fmt.Errorf("bad table magic %#x (not a TensorBundle index / LevelDB table)", m)
	}
	meta, rest, err := decodeHandle(footer[:footerLen-8])
	if err != nil {
		return nil, fmt.Errorf("footer: metaindex: %w", err)
	}
	index, _, err := decodeHandle(rest)
	if err != nil {
		return nil, fmt.Errorf("footer: index: %w", err)
	}
	body := data[:len(data)-footerLen]
	// The metaindex block is empty in TensorFlow's tables, but it carries
	// a checksum like any block.
	if _, err := readBlock(body, meta); err != nil {
		return nil, fmt.Errorf("metaindex block: %w", err)
	}
	indexBlock, err := readBlock(body, index)
	if err != nil {
		return nil, fmt.Errorf("index block: %w", err)
	}
	handles, err := blockEntries(indexBlock)
	if err != nil {
		return nil, fmt.Errorf("index block: %w", err)
	}
	var out []tableEntry
	for i, h := range handles {
		bh, _, err := decodeHandle(h.value)
		if err != nil {
			return nil, fmt.Errorf("index entry %d: %w", i, err)
		}
		block, err := readBlock(body, bh)
		if err != nil {
			return nil, fmt.Errorf("data block %d at offset %d: %w", i, bh.offset, err)
		}
		entries, err := blockEntries(block)
		if err != nil {
			return nil, fmt.Errorf("data block %d at offset %d: %w", i, bh.offset, err)
		}
		for _, e := range entries {
			if len(out) > 0 && bytes.Compare(out[len(out)-1].key, e.key) >= 0 {
				return nil, fmt.Errorf("data block %d: key %q does not sort after %q", i, e.key, out[len(out)-1].key)
			}
			// The index key separates this block from the next one: it is
			// >= every key in the block.
			if bytes.Compare(e.key, h.key) > 0 {
				return nil, fmt.Errorf("data block %d: key %q sorts after its index key %q", i, e.key, h.key)
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// readBlock returns the (decompressed) contents of the block at h after
// checking its trailer's checksum.
func readBlock(body []byte, h blockHandle) ([]byte, error) {
	n := uint64(len(body))
	if h.offset > n || h.size > n-h.offset || blockTrailerLen > n-h.offset-h.size {
		return nil, fmt.Errorf("block [%d, +%d) runs past the end of the file (%d bytes before the footer)", h.offset, h.size, n)
	}
	raw := body[h.offset : h.offset+h.size+blockTrailerLen]
	contents, typ := raw[:h.size], raw[h.size]
	want := binary.LittleEndian.Uint32(raw[h.size+1:])
	crc := crc32.Update(crc32.Checksum(contents, castagnoli), castagnoli, raw[h.size:h.size+1])
	if got := maskCRC(crc); got != want {
		return nil, fmt.Errorf("block checksum mismatch (stored %#08x, computed %#08x)", want, got)
	}
	switch typ {
	case blockNoCompression:
		return contents, nil
	case blockSnappyCompression:
		dlen, err := snappy.DecodedLen(contents)
		if err != nil {
			return nil, fmt.Errorf("snappy block: %w", err)
		}
		if dlen > maxSnappyRatio*len(contents)+64 {
			return nil, fmt.Errorf("snappy block claims %d bytes from %d", dlen, len(contents))
		}
		out, err := snappy.Decode(make([]byte, dlen), contents)
		if err != nil {
			return nil, fmt.Errorf("snappy block: %w", err)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("unknown block compression type %d", typ)
	}
}

// blockEntries decodes the prefix-compressed entries of one block:
//
//	entry:   shared varint32, unshared varint32, value_len varint32,
//	         key[shared:] (unshared bytes), value
//	trailer: restarts []uint32, num_restarts uint32
//
// Restart points only speed up seeks; reading the block front to back
// needs them only to find where the entries end.
func blockEntries(b []byte) ([]tableEntry, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("block of %d bytes has no restart count", len(b))
	}
	nr := uint64(binary.LittleEndian.Uint32(b[len(b)-4:]))
	if (nr+1)*4 > uint64(len(b)) {
		return nil, fmt.Errorf("block of %d bytes claims %d restart points", len(b), nr)
	}
	limit := len(b) - int(nr+1)*4
	for i := range int(nr) {
		if r := binary.LittleEndian.Uint32(b[limit+4*i:]); int64(r) >= int64(limit) && !(r == 0 && limit == 0) {
			return nil, fmt.Errorf("restart point %d (%d) is past the entries (%d bytes)", i, r, limit)
		}
	}
	p := b[:limit]
	var out []tableEntry
	var prev []byte
	// Prefix compression lets each entry repeat the whole previous key for
	// a few bytes, so n tiny entries could expand to n²/2 key bytes. Real
	// tables share short prefixes; cap the expansion well above them.
	budget := maxKeyExpansion*uint64(len(b)) + 1<<16
	for len(p) > 0 {
		var hdr [3]uint64
		for i := range hdr {
			v, n := binary.Uvarint(p)
			if n <= 0 || v > 1<<32-1 {
				return nil, fmt.Errorf("entry %d: bad length varint", len(out))
			}
			hdr[i], p = v, p[n:]
		}
		shared, unshared, vlen := hdr[0], hdr[1], hdr[2]
		if shared > uint64(len(prev)) {
			return nil, fmt.Errorf("entry %d shares %d bytes of a %d-byte previous key", len(out), shared, len(prev))
		}
		if unshared > uint64(len(p)) || vlen > uint64(len(p))-unshared {
			return nil, fmt.Errorf("entry %d runs past the end of its block", len(out))
		}
		if shared+unshared > budget {
			return nil, fmt.Errorf("entry %d: keys expand to more than %d times the block's size", len(out), maxKeyExpansion)
		}
		budget -= shared + unshared
		key := make([]byte, 0, shared+unshared)
		key = append(append(key, prev[:shared]...), p[:unshared]...)
		value := p[unshared : unshared+vlen]
		p = p[unshared+vlen:]
		out = append(out, tableEntry{key: key, value: value})
		prev = key
	}
	return out, nil
}
