package provision

import (
	"context"
	"errors"
	"io/fs"
	"strings"

	"github.com/aegirhq/aegir/internal/provision/archive"
	"github.com/aegirhq/aegir/internal/provision/sitetree"
)

// maxLinkWarnings bounds the warning lines one task logs about links out
// of a site; the rest are counted in one more line.
const maxLinkWarnings = 20

// externalLinks lists the symlinks under dir whose targets leave dir
// (archive.LinkLeaves), with names relative to dir. The walk follows no
// link (sitetree).
func externalLinks(ctx context.Context, dir string) ([]archive.ExternalLink, error) {
	var out []archive.ExternalLink
	err := sitetree.Walk(ctx, dir, func(e *sitetree.Entry) error {
		if e.Mode&fs.ModeSymlink == 0 {
			return nil
		}
		l, err := e.Readlink()
		if err != nil {
			return err
		}
		if archive.LinkLeaves(e.Rel, l) {
			out = append(out, archive.ExternalLink{Name: e.Rel, Target: l})
		}
		return nil
	})
	return out, err
}

// warnExternalLinks logs a warning naming each link out of the site, by
// its name relative to the site directory once prefix (the archive's
// files/, or "") is dropped, at most maxLinkWarnings of them.
func (j *job) warnExternalLinks(msg, prefix string, links []archive.ExternalLink) {
	for i, l := range links {
		if i == maxLinkWarnings {
			j.log.Warn("more symlinks point outside the site", "more", len(links)-i)
			return
		}
		j.log.Warn(msg, "link", strings.TrimPrefix(l.Name, prefix), "target", l.Target)
	}
}

// filesHint is the fix hint for a failed read of a site's files: hint,
// unless the files changed under the walk (sitetree.ErrChanged), which
// another run usually gets past and which, repeated, means something of
// the site keeps replacing its entries, perhaps with links.
func filesHint(err error, hint string) string {
	if errors.Is(err, sitetree.ErrChanged) {
		return "The site's files changed while they were read; run the task again. If it keeps failing, look for a process of the site replacing its files or directories (with symlinks, say): aegir never reads through them."
	}
	return hint
}
