package servicekind

// Bounds of the per-site php-fpm pool limits. An nginx service's
// php_memory_limit, php_upload_max and php_max_children (every site's
// default) and a site's own php settings (domain.SitePHP, set per site)
// are held to the same bounds; sizes are in MiB.
const (
	PHPMemoryMinMB, PHPMemoryMaxMB = 16, 4096
	PHPUploadMinMB, PHPUploadMaxMB = 1, 2048
	PHPChildrenMin, PHPChildrenMax = 1, 64
)
