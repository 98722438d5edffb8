# aegir platform manifest for WordPress 6.1 from Debian's `wordpress`
# package, as an operator would write it (README.md, "Real applications").
#
# The platform is a copy of /usr/share/wordpress with its links resolved
# (Debian's tree links .htaccess into /etc) and the files of this directory
# laid over it: wp-config.php (which replaces Debian's
# /etc/wordpress/config-<host>.php lookup) and aegir/install.php.
# Each site's database settings live in sites/<domain>/settings.json,
# written by aegir; wp-config.php finds them through AEGIR_SETTINGS, a
# FastCGI param for requests and an environment variable for hooks.
name    = "wordpress"
version = "6.1"

# WordPress serves from its root: the site directories under sites/ are
# inside the docroot, and the snippet denies them.
docroot = "."
nginx_snippet = "aegir/nginx.conf"

hooks {
  # Creates the tables and the admin account (wp_install()).
  install = ["php", "aegir/install.php"]
  # WordPress's own cron, run by aegir's cron queue instead of page loads.
  cron    = ["php", "wp-cron.php"]
}

expect {
  path = "/"
  text = "<meta name=\"generator\" content=\"WordPress"
}
