package onvif

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Notification is one ONVIF event message (tt:Message inside a
// wsnt:NotificationMessage).
type Notification struct {
	Topic     string            `json:"topic"`
	UtcTime   time.Time         `json:"utc_time"`
	Operation string            `json:"operation,omitempty"` // Initialized, Changed, Deleted
	Source    map[string]string `json:"source,omitempty"`
	Data      map[string]string `json:"data,omitempty"`
}

// Subscription is a pull point created on a device.
type Subscription struct {
	Address     string
	Termination time.Time
}

// CreatePullPoint subscribes to every event of the device.
func (c *Client) CreatePullPoint(ctx context.Context, ttl time.Duration) (Subscription, error) {
	body := fmt.Sprintf(`<tev:CreatePullPointSubscription><tev:InitialTerminationTime>PT%dS</tev:InitialTerminationTime></tev:CreatePullPointSubscription>`,
		int(ttl.Seconds()))
	resp, err := c.call(ctx, c.events(), action(nsEvents, "EventPortType/CreatePullPointSubscriptionRequest"), body, true)
	if err != nil {
		return Subscription{}, err
	}
	return ParseSubscription(resp)
}

// ParseSubscription reads a CreatePullPointSubscription answer.
func ParseSubscription(body []byte) (Subscription, error) {
	var r struct {
		Addr string `xml:"SubscriptionReference>Address"`
		Term string `xml:"TerminationTime"`
	}
	if err := unmarshalOne(body, "CreatePullPointSubscriptionResponse", &r); err != nil {
		return Subscription{}, err
	}
	s := Subscription{Address: httpURL(r.Addr)}
	if s.Address == "" {
		return s, fmt.Errorf("onvif: CreatePullPointSubscription: invalid subscription address")
	}
	s.Termination, _ = time.Parse(time.RFC3339Nano, strings.TrimSpace(r.Term))
	return s, nil
}

// PullMessages waits up to timeout for at most limit messages.
func (c *Client) PullMessages(ctx context.Context, sub Subscription, timeout time.Duration, limit int) ([]Notification, error) {
	body := fmt.Sprintf(`<tev:PullMessages><tev:Timeout>PT%dS</tev:Timeout><tev:MessageLimit>%d</tev:MessageLimit></tev:PullMessages>`,
		max(1, int(timeout.Seconds())), limit)
	resp, err := c.call(ctx, sub.Address, action(nsEvents, "PullPointSubscription/PullMessagesRequest"), body, true)
	if err != nil {
		return nil, err
	}
	return ParsePullMessages(resp)
}

// Renew extends the subscription.
func (c *Client) Renew(ctx context.Context, sub Subscription, ttl time.Duration) error {
	body := fmt.Sprintf(`<wsnt:Renew><wsnt:TerminationTime>PT%dS</wsnt:TerminationTime></wsnt:Renew>`, int(ttl.Seconds()))
	_, err := c.call(ctx, sub.Address, "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/RenewRequest", body, true)
	return err
}

// Unsubscribe ends the subscription.
func (c *Client) Unsubscribe(ctx context.Context, sub Subscription) error {
	_, err := c.call(ctx, sub.Address, "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest", `<wsnt:Unsubscribe/>`, true)
	return err
}

// MaxItems bounds the simple items kept per message part.
const MaxItems = 32

// ParsePullMessages reads a PullMessages answer.
func ParsePullMessages(body []byte) ([]Notification, error) {
	type item struct {
		Name  string `xml:"Name,attr"`
		Value string `xml:"Value,attr"`
	}
	var r struct {
		N []struct {
			Topic string `xml:"Topic"`
			Msg   struct {
				M struct {
					UtcTime string `xml:"UtcTime,attr"`
					Op      string `xml:"PropertyOperation,attr"`
					Source  []item `xml:"Source>SimpleItem"`
					Data    []item `xml:"Data>SimpleItem"`
				} `xml:"Message"`
			} `xml:"Message"`
		} `xml:"NotificationMessage"`
	}
	if err := unmarshalOne(body, "PullMessagesResponse", &r); err != nil {
		return nil, err
	}
	items := func(in []item) map[string]string {
		if len(in) == 0 {
			return nil
		}
		m := make(map[string]string, min(len(in), MaxItems))
		for _, it := range in {
			if len(m) == MaxItems {
				break
			}
			if k := clean(it.Name, 64); k != "" {
				m[k] = clean(it.Value, 256)
			}
		}
		return m
	}
	out := make([]Notification, 0, len(r.N))
	for _, n := range r.N {
		topic := clean(n.Topic, 256)
		if topic == "" {
			continue
		}
		nt := Notification{Topic: topic, Operation: clean(n.Msg.M.Op, 32), Source: items(n.Msg.M.Source), Data: items(n.Msg.M.Data)}
		if t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(n.Msg.M.UtcTime)); err == nil {
			nt.UtcTime = t.UTC()
		}
		out = append(out, nt)
	}
	return out, nil
}
