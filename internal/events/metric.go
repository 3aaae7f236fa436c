package events

import dto "github.com/prometheus/client_model/go"

type dtoMetric struct{ dto.Metric }
