package main

import (
	"fmt"
	"strings"

	"github.com/sinklab/sinklab/attention"
)

// attentionHelp is the paragraph of `sinklab train --help` that lists every
// valid model.attention value: sinklab's names, then the paper's.
func attentionHelp() string {
	var paper []string
	for _, p := range attention.PaperVariants() {
		c, _ := attention.CanonicalVariant(p)
		if c == p {
			paper = append(paper, p)
		} else {
			paper = append(paper, p+" ("+c+")")
		}
	}
	return fmt.Sprintf(`

Attention types (model.attention): %s.
The 12 names of Varre, Rofin and Flammarion (2026) are accepted too and resolve to
the type the paper means (stored under the name in brackets): %s.`,
		strings.Join(attention.Variants(), ", "), strings.Join(paper, ", "))
}
