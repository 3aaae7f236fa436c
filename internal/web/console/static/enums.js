// The value lists of the registry (internal/registry/enums.go), in the same
// order; labels come from the dictionary (enum.<list>.<value>).
import { t } from "./i18n.js";

export const PURPOSES = ["security_order", "traffic_safety", "urban_order", "rescue", "forest_fire", "sector_management"];
export const KINDS = ["security", "face_recognition", "traffic_violation", "traffic_counting", "crowd_detection", "other_ai"];
export const AREAS = ["road", "intersection", "public_crowded", "public_other", "internal"];
export const ORG_KINDS = ["department", "managing_agency", "operating_unit", "user_agency", "commune", "private_owner"];
export const ROLES = ["admin", "operator", "viewer", "auditor"];
export const ACTIONS = ["view-live", "playback", "export", "ptz"];

export const opts = (list, group) => list.map((v) => ({ value: v, label: t(`enum.${group}.${v}`) }));
export const names = (list, mask) => list.filter((_, i) => mask & (1 << i));
export const label = (group, v) => t(`enum.${group}.${v}`);
