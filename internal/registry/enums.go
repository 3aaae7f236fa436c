package registry

import (
	"fmt"
	"math/bits"
	"sort"
	"strings"
)

// The sets of R-CAM-1 (kinds), R-CAM-5 (purposes) and R-CAM-3 (areas) are
// stored as bit masks: access scoping becomes `(purposes & ?) <> 0` on both
// engines, and the decision function a handful of AND instructions. The bit of
// a value is its index in the list below: append only, never reorder.

// Purposes (R-CAM-5), also an organisation's functions (R-ACC-3).
var Purposes = []string{
	"security_order",    // an ninh trật tự
	"traffic_safety",    // an toàn giao thông
	"urban_order",       // trật tự đô thị
	"rescue",            // cứu hộ cứu nạn
	"forest_fire",       // phòng cháy chữa cháy rừng
	"sector_management", // quản lý chuyên ngành
}

// Kinds (R-CAM-1). AI kinds produce analytics events.
var Kinds = []string{
	"security",          // giám sát an ninh
	"face_recognition",  // nhận diện khuôn mặt
	"traffic_violation", // xử lý vi phạm giao thông
	"traffic_counting",  // đếm lưu lượng giao thông
	"crowd_detection",   // phát hiện đám đông
	"other_ai",          // AI khác
}

// Areas (R-CAM-3).
var Areas = []string{
	"road",           // đường giao thông
	"intersection",   // nút giao
	"public_crowded", // nơi công cộng đông người
	"public_other",   // nơi công cộng khác
	"internal",       // khu vực nội bộ
}

// PublicAreas may be shared with the citizen app (R-PUB-1).
var PublicAreas = MustMask(Areas, "road", "intersection", "public_crowded")

// Mask is a set of values from one of the lists above.
type Mask = int64

// MaskOf turns names into a mask; an unknown name is an error naming it.
func MaskOf(list []string, names ...string) (Mask, error) {
	var m Mask
	for _, n := range names {
		i := indexOf(list, strings.TrimSpace(n))
		if i < 0 {
			return 0, fmt.Errorf("unknown value %q (allowed: %s)", n, strings.Join(list, ", "))
		}
		m |= 1 << uint(i)
	}
	return m, nil
}

// MustMask is MaskOf for constants.
func MustMask(list []string, names ...string) Mask {
	m, err := MaskOf(list, names...)
	if err != nil {
		panic(err)
	}
	return m
}

// Names lists the names of the bits set in m, in list order.
func Names(list []string, m Mask) []string {
	out := make([]string, 0, bits.OnesCount64(uint64(m)))
	for i, n := range list {
		if m&(1<<uint(i)) != 0 {
			out = append(out, n)
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return indexOf(list, out[a]) < indexOf(list, out[b]) })
	return out
}

// AreaBit is the mask of one area; 0 for an unknown one.
func AreaBit(area string) Mask {
	i := indexOf(Areas, area)
	if i < 0 {
		return 0
	}
	return 1 << uint(i)
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// Organisation kinds.
const (
	OrgDepartment     = "department"      // the department with the highest access (configurable which one)
	OrgManagingAgency = "managing_agency" // cơ quan quản lý
	OrgOperatingUnit  = "operating_unit"  // đơn vị vận hành
	OrgUserAgency     = "user_agency"     // cơ quan khai thác và sử dụng
	OrgCommune        = "commune"         // UBND xã/phường
	OrgPrivateOwner   = "private_owner"   // chủ sở hữu camera tư nhân
)

// OrgKinds lists every organisation kind.
var OrgKinds = []string{OrgDepartment, OrgManagingAgency, OrgOperatingUnit, OrgUserAgency, OrgCommune, OrgPrivateOwner}
