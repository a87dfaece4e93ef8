package bpf

import (
	"fmt"
	"strconv"
	"strings"
)

// PortsExpr turns the seed's -P list into a filter expression: ports
// separated by commas or colons, a-b a range. "80,443:8000-8080" gives
// "(port 80 or port 443 or portrange 8000-8080)". An empty list is an error.
func PortsExpr(spec string) (string, error) {
	items := strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == ':' })
	if len(items) == 0 {
		return "", fmt.Errorf("port list %q: no ports", spec)
	}
	terms := make([]string, 0, len(items))
	for _, it := range items {
		it = strings.TrimSpace(it)
		lo, hi, isRange := strings.Cut(it, "-")
		a, err := parsePort(lo)
		if err != nil {
			return "", fmt.Errorf("port list %q: %q: %w", spec, it, err)
		}
		if !isRange {
			terms = append(terms, "port "+strconv.Itoa(a))
			continue
		}
		b, err := parsePort(hi)
		if err != nil {
			return "", fmt.Errorf("port list %q: %q: %w", spec, it, err)
		}
		if a > b {
			return "", fmt.Errorf("port list %q: range %q runs backwards", spec, it)
		}
		terms = append(terms, fmt.Sprintf("portrange %d-%d", a, b))
	}
	return "(" + strings.Join(terms, " or ") + ")", nil
}

func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > 65535 {
		return 0, fmt.Errorf("not a port number (0-65535)")
	}
	return n, nil
}
