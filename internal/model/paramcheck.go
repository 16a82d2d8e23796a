package model

import (
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// CheckParameterValue returns why v breaks p's type or constraints, ""
// when it does not. Shared by the configuration (defaults, enums) and
// Check (requests).
func CheckParameterValue(p *RequestParameter, v string) string {
	switch p.Type {
	case ParamNumber:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return "is not a number"
		}
		if p.MinValue != nil && f < *p.MinValue {
			return "is less than " + strconv.FormatFloat(*p.MinValue, 'g', -1, 64)
		}
		if p.MaxValue != nil && f > *p.MaxValue {
			return "is more than " + strconv.FormatFloat(*p.MaxValue, 'g', -1, 64)
		}
		if len(p.Enum) > 0 && !slices.ContainsFunc(p.Enum, func(e string) bool {
			g, err := strconv.ParseFloat(e, 64)
			return err == nil && g == f
		}) {
			return "is not one of the allowed values"
		}
	case ParamBoolean:
		if v != "true" && v != "false" {
			return "is not true or false"
		}
	default:
		if p.MinLength >= 0 || p.MaxLength >= 0 {
			n := utf8.RuneCountInString(v)
			if p.MinLength >= 0 && n < p.MinLength {
				return "is shorter than " + strconv.Itoa(p.MinLength) + " characters"
			}
			if p.MaxLength >= 0 && n > p.MaxLength {
				return "is longer than " + strconv.Itoa(p.MaxLength) + " characters"
			}
		}
		if len(p.Enum) > 0 && !slices.Contains(p.Enum, v) {
			return "is not one of the allowed values"
		}
		if p.Pattern != nil && !p.Pattern.MatchString(v) {
			return "does not match the pattern"
		}
	}
	return ""
}
