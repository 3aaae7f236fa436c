package playback

import "crypto/ed25519"

// KeyIDForTest exposes the key id function.
func KeyIDForTest(pub ed25519.PublicKey) string { return keyID(pub) }
