package webrtc

import "github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"

func newEncoderForTest() *rtph264.Encoder {
	e := &rtph264.Encoder{PayloadType: 96, PacketizationMode: 1, PayloadMaxSize: rtpPayloadMax}
	if err := e.Init(); err != nil {
		panic(err)
	}
	return e
}
