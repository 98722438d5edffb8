// Package uitest drives the HTML dashboard in a real headless Chromium
// (Debian's chromium package) with chromedp, against the whole product in
// this process: the dashboard and API, the store on bbolt, the dispatcher
// with the local executor running a freshly built aegir binary as the back
// end, and the builtin web server. It lives apart from package dashboard so
// that the API's own tests do not build the binary.
//
// The test saves screenshots of the main pages at laptop (1366×768) and
// phone (390×844) sizes into $AEGIR_ARTIFACTS/ui-screenshots, or a new
// temporary directory, and logs the path. Without chromium it skips, except
// under CI=true, where it fails.
package uitest
