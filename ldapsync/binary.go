package ldapsync

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
)

// formatGUID returns the canonical lower-case text of an AD objectGUID.
// Microsoft stores a GUID's first three fields little-endian and the last
// eight bytes as they are, so the text is not the hex of the bytes in order.
func formatGUID(b []byte) (string, error) {
	if len(b) != 16 {
		return "", fmt.Errorf("a GUID has 16 bytes, this value %d", len(b))
	}
	var out [36]byte
	var be [16]byte
	binary.BigEndian.PutUint32(be[0:], binary.LittleEndian.Uint32(b[0:]))
	binary.BigEndian.PutUint16(be[4:], binary.LittleEndian.Uint16(b[4:]))
	binary.BigEndian.PutUint16(be[6:], binary.LittleEndian.Uint16(b[6:]))
	copy(be[8:], b[8:])
	hex.Encode(out[0:8], be[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], be[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], be[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], be[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], be[10:16])
	return string(out[:]), nil
}

// formatSID returns the text form (S-1-5-21-…) of a binary security
// identifier: revision, sub-authority count, a 48-bit big-endian identifier
// authority, then that many 32-bit little-endian sub-authorities.
func formatSID(b []byte) (string, error) {
	if len(b) < 8 || len(b) != 8+4*int(b[1]) {
		return "", fmt.Errorf("a SID of %d bytes is malformed", len(b))
	}
	var auth uint64
	for _, x := range b[2:8] {
		auth = auth<<8 | uint64(x)
	}
	out := make([]byte, 0, 64)
	out = append(out, "S-"...)
	out = strconv.AppendUint(out, uint64(b[0]), 10)
	out = append(out, '-')
	out = strconv.AppendUint(out, auth, 10)
	for i := 8; i < len(b); i += 4 {
		out = append(out, '-')
		out = strconv.AppendUint(out, uint64(binary.LittleEndian.Uint32(b[i:])), 10)
	}
	return string(out), nil
}
