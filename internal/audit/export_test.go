package audit

// SignCheckpoint lets the tests forge a checkpoint that is well formed and
// correctly signed, only by a key the verifier does not trust.
var SignCheckpoint = signCheckpoint
