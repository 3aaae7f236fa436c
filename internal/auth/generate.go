package auth

import (
	"crypto/rand"
	"math/big"
)

// GeneratePassword makes a random password of n characters (at least 8) that
// meets the complexity rules: one-time passwords printed by the CLI and the
// demo's accounts. Look-alike characters (0/O, 1/l/I) are left out because
// people copy these by hand.
func GeneratePassword(n int) string {
	const lower, upper, digits, symbols = "abcdefghijkmnopqrstuvwxyz", "ABCDEFGHJKLMNPQRSTUVWXYZ", "23456789", "!@#%&*-_+="
	if n < 8 {
		n = 8
	}
	out := []byte{pick(upper), pick(lower), pick(digits), pick(symbols)}
	for len(out) < n {
		out = append(out, pick(lower+upper+digits))
	}
	// Shuffle so the required classes are not always in front.
	for i := len(out) - 1; i > 0; i-- {
		j := int(randN(i + 1))
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}

func pick(set string) byte { return set[randN(len(set))] }

func randN(n int) int64 {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	return v.Int64()
}
