package httpapi

import (
	"github.com/vigil-vms/vigil/internal/registry"
)

var (
	purposesList = registry.Purposes
	kindsList    = registry.Kinds
	areasList    = registry.Areas
)

func maskOf(field string, list []string, names []string) (int64, error) {
	if len(names) == 0 {
		return 0, nil
	}
	m, err := registry.MaskOf(list, names...)
	if err != nil {
		return 0, ErrMsg(422, "invalid_input", field, err.Error())
	}
	return m, nil
}
