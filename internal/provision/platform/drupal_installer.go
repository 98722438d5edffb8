package platform

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
)

// drupalInstallerSource is aegir's own Drupal installer and cron runner,
// used where a platform has no drush: a PHP script calling Drupal's
// install_drupal() and cron API. It is passed to `php -r` (no file is
// written anywhere) with its settings as JSON after `--`: data the script
// json_decodes, never pasted into its source. Secrets (the database
// password) reach it through the AEGIR_DB_* environment of the command.
//
//go:embed drupal_installer.php
var drupalInstallerSource string

// drupalInstallerCode is the script as `php -r` wants it: without its
// opening tag and its comment lines, so the logged command stays short.
var drupalInstallerCode = func() string {
	var b strings.Builder
	for i, line := range strings.Split(drupalInstallerSource, "\n") {
		t := strings.TrimSpace(line)
		if i == 0 && t == "<?php" || t == "" || strings.HasPrefix(t, "//") {
			continue
		}
		b.WriteString(t)
		b.WriteByte('\n')
	}
	return b.String()
}()

// drupalInstall is what the installer is asked to do, as the JSON it
// reads. None of it is secret: it is on the command line.
type drupalInstall struct {
	Mode        string `json:"mode"` // "install" or "cron"
	Root        string `json:"root"`
	Domain      string `json:"domain"`
	D7          bool   `json:"d7"`
	Profile     string `json:"profile,omitempty"`
	Langcode    string `json:"langcode,omitempty"`
	SiteName    string `json:"site_name,omitempty"`
	SiteMail    string `json:"site_mail,omitempty"`
	AccountName string `json:"account_name,omitempty"`
	AccountMail string `json:"account_mail,omitempty"`
}

// The values drush site:install uses when it is given none but the
// profile and the site's name.
const (
	drupalAccountName = "admin"
	drupalLangcode    = "en"
)

// installerArgv is `php -r <installer> -- <JSON of in>`, or ErrPHPMissing
// when php is not on the PATH.
func installerArgv(in drupalInstall) ([]string, error) {
	php, err := exec.LookPath("php")
	if err != nil {
		return nil, ErrPHPMissing
	}
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	return []string{php, "-r", drupalInstallerCode, "--", string(b)}, nil
}

// drupalInstallerInstall is the installer's argv installing the site
// domainName with profile.
func drupalInstallerInstall(p *Platform, domainName, profile string) ([]string, error) {
	return installerArgv(drupalInstall{
		Mode: "install", Root: p.Path, Domain: domainName, D7: d7(p),
		Profile: profile, Langcode: drupalLangcode, SiteName: domainName, SiteMail: drupalAccountName + "@" + domainName,
		AccountName: drupalAccountName, AccountMail: drupalAccountName + "@" + domainName,
	})
}

// drupalInstallerCron is the installer's argv running the cron of the
// site domainName.
func drupalInstallerCron(p *Platform, domainName string) ([]string, error) {
	return installerArgv(drupalInstall{Mode: "cron", Root: p.Path, Domain: domainName, D7: d7(p)})
}

// ShowArgv is argv as logs and failure messages show it: an inline PHP
// script (the argument after -r, such as aegir's Drupal installer) longer
// than a line is replaced by "<script of N bytes>".
func ShowArgv(argv []string) []string {
	out := slices.Clone(argv)
	for i := 1; i < len(out); i++ {
		if out[i-1] == "-r" && len(out[i]) > 120 {
			out[i] = fmt.Sprintf("<script of %d bytes>", len(out[i]))
		}
	}
	return out
}
