package playback_test

import "testing"

// BenchmarkPlaybackFirstByteAudio is BenchmarkPlaybackFirstByte on a
// segment with G.711 audio stored as LPCM: 300 one-second fragments of 25
// video frames and 50 audio samples of 20 ms (320 bytes); the MP4 of 30 s
// from mid-segment has both tracks, interleaved.
func BenchmarkPlaybackFirstByteAudio(b *testing.B) { benchFirstByte(b, "real-segment-av", "LPCM") }
