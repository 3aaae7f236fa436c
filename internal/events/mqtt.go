package events

import (
	"context"
	"fmt"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// MQTTOptions configure the MQTT ingest (ONVIF Profile M metadata brokers,
// analytics boxes). Topics are <prefix>/<camera id>; the payload is the
// webhook's JSON (one event, a list, or {"events": [...]}). The broker's
// own authentication and ACLs decide who may publish.
type MQTTOptions struct {
	Broker   string // tcp://127.0.0.1:1883
	Prefix   string // vigil/events
	ClientID string
	Username string
	Password string
	QoS      byte
}

// MQTT is a running subscription.
type MQTT struct {
	c   mqtt.Client
	b   *Batcher
	opt MQTTOptions
}

// StartMQTT connects and subscribes; events are batched into the store.
// It returns when subscribed (or on error); Close stops it.
func (s *Service) StartMQTT(ctx context.Context, opt MQTTOptions) (*MQTT, error) {
	if opt.Prefix == "" {
		opt.Prefix = "vigil/events"
	}
	opt.Prefix = strings.TrimSuffix(opt.Prefix, "/")
	if opt.ClientID == "" {
		opt.ClientID = "vigil-" + NewID(time.Now())[12:]
	}
	m := &MQTT{opt: opt, b: s.NewBatcher("mqtt", 500, 50*time.Millisecond)}
	co := mqtt.NewClientOptions().AddBroker(opt.Broker).SetClientID(opt.ClientID).SetUsername(opt.Username).
		SetPassword(opt.Password).SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(2 * time.Second).
		SetOrderMatters(false).SetCleanSession(true).SetConnectTimeout(5 * time.Second)
	topic := opt.Prefix + "/+"
	co.SetOnConnectHandler(func(c mqtt.Client) {
		// (re)subscribe on every connection
		c.Subscribe(topic, opt.QoS, func(_ mqtt.Client, msg mqtt.Message) { m.handle(s, msg.Topic(), msg.Payload()) })
	})
	m.c = mqtt.NewClient(co)
	tok := m.c.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			m.b.Close()
			return nil, fmt.Errorf("events: mqtt connect %s: %w", opt.Broker, err)
		}
	case <-ctx.Done():
		m.c.Disconnect(0)
		m.b.Close()
		return nil, ctx.Err()
	}
	// wait for the first subscription so that a caller publishing right
	// after Start is not lost
	st := m.c.Subscribe(topic, opt.QoS, func(_ mqtt.Client, msg mqtt.Message) { m.handle(s, msg.Topic(), msg.Payload()) })
	select {
	case <-st.Done():
		if err := st.Error(); err != nil {
			m.Close()
			return nil, fmt.Errorf("events: mqtt subscribe: %w", err)
		}
	case <-ctx.Done():
		m.Close()
		return nil, ctx.Err()
	}
	return m, nil
}

func (m *MQTT) handle(s *Service, topic string, payload []byte) {
	cam := strings.TrimPrefix(topic, m.opt.Prefix+"/")
	evs, r := ParseJSON(payload)
	if r == nil {
		for i := range evs {
			if evs[i].CameraID == "" {
				evs[i].CameraID = cam
			} else if evs[i].CameraID != cam {
				r = &Rejection{Reason: "camera_mismatch", Field: "camera_id", Detail: "event of another camera on " + clip(topic)}
				break
			}
		}
	}
	if r != nil {
		s.CountRejection("mqtt", r)
		s.o.Log.Warn("mqtt event rejected", "topic", clip(topic), "reason", r.Reason, "detail", r.Detail)
		return
	}
	m.b.Add(evs)
}

// Close disconnects and flushes.
func (m *MQTT) Close() {
	m.c.Disconnect(250)
	m.b.Close()
}

// Batcher groups the events of many small messages into few transactions
// (ingest rate). Each Add is one message: validated whole, stored whole or
// rejected whole.
type Batcher struct {
	s      *Service
	source string
	in     chan []Event
	done   chan struct{}
	max    int
	every  time.Duration
}

// NewBatcher starts a batcher flushing at max events or every interval.
func (s *Service) NewBatcher(source string, max int, every time.Duration) *Batcher {
	b := &Batcher{s: s, source: source, in: make(chan []Event, 1024), done: make(chan struct{}), max: max, every: every}
	go b.run()
	return b
}

// Add queues the events of one message (blocking when the queue is full:
// back-pressure on the broker rather than unbounded memory).
func (b *Batcher) Add(evs []Event) { b.in <- evs }

// Close flushes and stops.
func (b *Batcher) Close() {
	close(b.in)
	<-b.done
}

func (b *Batcher) run() {
	defer close(b.done)
	var msgs [][]Event
	n := 0
	t := time.NewTimer(b.every)
	defer t.Stop()
	flush := func() {
		if n == 0 {
			return
		}
		b.flush(msgs)
		msgs, n = nil, 0
	}
	for {
		select {
		case evs, ok := <-b.in:
			if !ok {
				flush()
				return
			}
			msgs = append(msgs, evs)
			n += len(evs)
			if n >= b.max {
				flush()
			}
		case <-t.C:
			flush()
			t.Reset(b.every)
		}
	}
}

// flush validates each message on its own (a bad one is rejected without
// taking the others down) and stores the good ones in one transaction.
func (b *Batcher) flush(msgs [][]Event) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := b.s
	now := s.o.Now()
	var good [][]Event
	var all []Event
	for _, m := range msgs {
		ok := true
		for i := range m {
			m[i].Source = b.source
			if r := m[i].Validate(now); r != nil {
				s.rejected.WithLabelValues(b.source, r.Reason).Inc()
				ok = false
				break
			}
		}
		if ok {
			good = append(good, m)
			all = append(all, m...)
		}
	}
	if len(all) == 0 {
		return
	}
	missing, err := s.unknownCameras(ctx, all)
	if err != nil {
		s.o.Log.Error("events: camera check failed", "source", b.source, "err", err)
		s.rejected.WithLabelValues(b.source, "store_failed").Add(float64(len(all)))
		return
	}
	keep := all[:0:0]
	for _, m := range good {
		bad := false
		for i := range m {
			if missing[m[i].CameraID] {
				bad = true
				break
			}
		}
		if bad {
			s.rejected.WithLabelValues(b.source, "unknown_camera").Inc()
			continue
		}
		keep = append(keep, m...)
	}
	if len(keep) == 0 {
		return
	}
	if _, err := s.insert(ctx, keep, now); err != nil {
		s.o.Log.Error("events: store batch failed", "source", b.source, "events", len(keep), "err", err)
		s.rejected.WithLabelValues(b.source, "store_failed").Add(float64(len(keep)))
		return
	}
	for i := range keep {
		s.ingested.WithLabelValues(b.source, keep[i].Kind).Inc()
	}
}
