package block

import "sort"

// Intersect returns the values in both a and b, which must be sorted
// ascending without duplicates; so is the result. When one list is much
// shorter it gallops through the longer one.
func Intersect(a, b []uint32) []uint32 {
	if len(a) > len(b) {
		a, b = b, a
	}
	if len(a) == 0 {
		return nil
	}
	out := make([]uint32, 0, len(a))
	if len(b) > 16*len(a) {
		for _, v := range a {
			i := sort.Search(len(b), func(i int) bool { return b[i] >= v })
			if i == len(b) {
				break
			}
			if b[i] == v {
				out = append(out, v)
			}
			b = b[i:]
		}
		return out
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// Union returns the values in a or b, which must be sorted ascending
// without duplicates; so is the result.
func Union(a, b []uint32) []uint32 {
	if len(a) == 0 && len(b) == 0 {
		return nil
	}
	out := make([]uint32, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}
