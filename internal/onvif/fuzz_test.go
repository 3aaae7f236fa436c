package onvif

import (
	"strings"
	"testing"
	"unicode/utf8"
)

const seedProfiles = `<trt:GetProfilesResponse xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><trt:Profiles token="p1"><tt:Name>Main</tt:Name><tt:VideoEncoderConfiguration><tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>1920</tt:Width><tt:Height>1080</tt:Height></tt:Resolution></tt:VideoEncoderConfiguration><tt:PTZConfiguration token="z"/></trt:Profiles></trt:GetProfilesResponse>`
const seedPull = `<tev:PullMessagesResponse xmlns:tev="e" xmlns:wsnt="n" xmlns:tt="t"><wsnt:NotificationMessage><wsnt:Topic>tns1:RuleEngine/LineDetector/Crossed</wsnt:Topic><wsnt:Message><tt:Message UtcTime="2025-01-01T00:00:00Z"><tt:Source><tt:SimpleItem Name="Rule" Value="L1"/></tt:Source><tt:Data><tt:SimpleItem Name="ObjectId" Value="3"/></tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage></tev:PullMessagesResponse>`
const seedTime = `<tds:GetSystemDateAndTimeResponse xmlns:tds="d" xmlns:tt="t"><tds:SystemDateAndTime><tt:UTCDateTime><tt:Time><tt:Hour>1</tt:Hour><tt:Minute>2</tt:Minute><tt:Second>3</tt:Second></tt:Time><tt:Date><tt:Year>2025</tt:Year><tt:Month>2</tt:Month><tt:Day>30</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`
const seedProbe = `<s:Envelope xmlns:s="x" xmlns:a="a" xmlns:d="d"><s:Header><a:RelatesTo>urn:uuid:1</a:RelatesTo></s:Header><s:Body><d:ProbeMatches><d:ProbeMatch><a:EndpointReference><a:Address>urn:uuid:2</a:Address></a:EndpointReference><d:Scopes>onvif://www.onvif.org/name/Cam%201</d:Scopes><d:XAddrs>http://10.0.0.5/onvif/device_service</d:XAddrs></d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>`
const seedFault = `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value>ter:NotAuthorized</env:Value></env:Subcode></env:Code><env:Reason><env:Text>no</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>`

// FuzzParseResponses feeds every response parser the same bytes: none may
// panic, and what they return must be bounded, valid text.
func FuzzParseResponses(f *testing.F) {
	for _, s := range []string{seedProfiles, seedPull, seedTime, seedProbe, seedFault, "", "<", "<a/>"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if body, fault, err := ParseEnvelope(data); err == nil && fault == nil {
			_, _ = ParseProfiles(body)
		}
		ps, _ := ParseProfiles(data)
		if len(ps) > 32 {
			t.Fatal("too many profiles")
		}
		for _, p := range ps {
			if p.Token == "" || !utf8.ValidString(p.Name) || p.Width < 0 || p.Width > 16384 {
				t.Fatalf("bad profile %+v", p)
			}
		}
		_, _, _ = MainAndSub(ps)
		ns, _ := ParsePullMessages(data)
		for _, n := range ns {
			if n.Topic == "" || len(n.Data) > MaxItems || len(n.Source) > MaxItems || !utf8.ValidString(n.Topic) {
				t.Fatalf("bad notification %+v", n)
			}
		}
		if tm, err := ParseSystemDateAndTime(data); err == nil && (tm.Year() < 1970 || tm.Year() > 10000) {
			t.Fatalf("time %v", tm)
		}
		_, _ = ParseDeviceInformation(data)
		if c, err := ParseCapabilities(data); err == nil {
			for _, u := range []string{c.Media, c.PTZ, c.Events} {
				if u != "" && !strings.HasPrefix(u, "http") {
					t.Fatalf("non-http service %q", u)
				}
			}
		}
		_, _ = ParsePresets(data)
		_, _ = ParseSubscription(data)
		if u, err := ParseMediaURI(data, "GetStreamUriResponse", "rtsp"); err == nil && !strings.HasPrefix(u, "rtsp:") {
			t.Fatalf("uri %q", u)
		}
		ds, _, _ := ParseProbeMatches(data)
		for _, d := range ds {
			if len(d.XAddrs) == 0 || len(d.XAddrs) > 8 {
				t.Fatalf("bad discovered %+v", d)
			}
		}
		_ = ParseAuthParams(string(data))
		_, _ = parseDigestChallenge([]string{string(data), "Digest " + string(data)})
	})
}
