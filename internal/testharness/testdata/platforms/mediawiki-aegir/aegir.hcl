# aegir platform manifest for MediaWiki 1.39 from Debian's `mediawiki`
# package, as an operator would write it (README.md, "Real applications").
#
# The platform is a copy of /usr/share/mediawiki with its links resolved
# (Debian's tree links config, extensions and images into /var/lib and
# LocalSettings.php into /etc) and the files of this directory laid over
# it: LocalSettings.php, which reads each site's database settings from
# sites/<domain>/settings.json (written by aegir; its path arrives as
# AEGIR_SETTINGS), and aegir/install.php, which runs MediaWiki's own
# maintenance/install.php for a site. Works on MariaDB and PostgreSQL.
name    = "mediawiki"
version = "1.39"

# MediaWiki serves from its root: the site directories under sites/ are
# inside the docroot, and the snippet denies them.
docroot = "."
nginx_snippet = "aegir/nginx.conf"

hooks {
  # Creates the tables, the main page and the admin account.
  install = ["php", "aegir/install.php"]
  # MediaWiki's job queue, run by aegir's cron queue instead of page loads.
  cron    = ["php", "maintenance/runJobs.php", "--maxtime", "60"]
}

# Passed to PHP as FastCGI params and to every hook.
env {
  MW_SITENAME = "AegirWiki"
}

expect {
  path = "/index.php?title=Main_Page"
  text = "content=\"MediaWiki 1.39"
}
