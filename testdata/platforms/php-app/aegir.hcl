# aegir platform manifest for the php test application.
# Hooks are argv lists run from the platform root with the site's context in
# environment variables (AEGIR_SITE_DIR ...), never through a shell.
docroot = "public"

hooks {
  install  = ["php", "bin/install.php"]
  cron     = ["php", "bin/cron.php"]
  stats    = ["php", "bin/stats.php"]
  packages = ["php", "bin/packages.php"]
}
