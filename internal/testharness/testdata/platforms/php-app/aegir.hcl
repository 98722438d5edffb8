# aegir platform manifest for the php test application (README.md at the
# repository root, "The php platform manifest", describes every key).
# Hooks are argv lists run from the platform root with the site's context in
# environment variables (AEGIR_SITE_DIR ...), never through a shell.
docroot = "public"

# Included in each site's nginx server block (the builtin server ignores it).
nginx_snippet = "aegir/nginx.conf"

hooks {
  install  = ["php", "bin/install.php"]
  cron     = ["php", "bin/cron.php"]
  stats    = ["php", "bin/stats.php"]
  packages = ["php", "bin/packages.php"]

  # Each records its run in the site's files/hooks.log (bin/hook.php).
  post-restore = ["php", "bin/hook.php", "post-restore"]
  post-clone   = ["php", "bin/hook.php", "post-clone"]
  post-migrate = ["php", "bin/hook.php", "post-migrate"]
  verify       = ["php", "bin/hook.php", "verify"]
  pre-delete   = ["php", "bin/hook.php", "pre-delete"]
}

# Passed to PHP as FastCGI params and to every hook.
env {
  APP_GREETING = "hello-from-aegir.hcl"
}

# After publishing, the front page must be the application's own.
expect {
  path = "/"
  text = "php-app site"
}
