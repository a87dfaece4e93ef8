package httpbody

import "strings"

// Extension returns the file extension, without the dot, of a body of
// this Content-Type ("text/html; charset=utf-8" gives "html"), "" for an
// unknown type or application/octet-stream. The extensions are those
// tcpflow 1.6.1 picks for the same types; a few types it does not know
// (text/javascript, font/woff2...) are added.
func Extension(contentType string) string {
	t, _, _ := strings.Cut(contentType, ";")
	t = strings.ToLower(strings.TrimSpace(t))
	return extensions[t]
}

// extensions maps common media types to file extensions.
var extensions = map[string]string{
	// text
	"text/html":                 "html",
	"text/plain":                "txt",
	"text/css":                  "css",
	"text/csv":                  "csv",
	"text/calendar":             "ics",
	"text/tab-separated-values": "tsv",
	"text/richtext":             "rtx",
	"text/sgml":                 "sgml",
	"text/uri-list":             "urls",
	"text/vnd.wap.wml":          "wml",
	"text/x-c":                  "c",
	"text/x-java-source":        "java",
	"text/x-vcard":              "vcf",
	"text/cache-manifest":       "manifest",
	"text/javascript":           "js",  // not in tcpflow's map; RFC 9239's type for JavaScript
	"text/xml":                  "xml", // not in tcpflow's map
	"text/markdown":             "md",  // not in tcpflow's map

	// application
	"application/javascript":        "js",
	"application/x-javascript":      "js", // not in tcpflow's map
	"application/ecmascript":        "ecma",
	"application/json":              "json",
	"application/xml":               "xml",
	"application/xhtml+xml":         "xhtml",
	"application/atom+xml":          "atom",
	"application/rss+xml":           "rss",
	"application/rdf+xml":           "rdf",
	"application/xslt+xml":          "xslt",
	"application/xml-dtd":           "dtd",
	"application/pdf":               "pdf",
	"application/postscript":        "ps",
	"application/rtf":               "rtf",
	"application/zip":               "zip",
	"application/x-tar":             "tar",
	"application/x-bzip":            "bz",
	"application/x-bzip2":           "bz2",
	"application/x-7z-compressed":   "7z",
	"application/x-rar-compressed":  "rar",
	"application/gzip":              "gz", // not in tcpflow's map
	"application/x-gzip":            "gz", // not in tcpflow's map
	"application/java-archive":      "jar",
	"application/java-vm":           "class",
	"application/x-sh":              "sh",
	"application/x-shockwave-flash": "swf",
	"application/x-bittorrent":      "torrent",
	"application/x-debian-package":  "deb",
	"application/x-latex":           "latex",
	"application/x-tex":             "tex",
	"application/msword":            "doc",
	"application/vnd.ms-excel":      "xls",
	"application/vnd.ms-powerpoint": "ppt",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   "docx",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         "xlsx",
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
	"application/vnd.android.package-archive":                                   "apk",
	"application/vnd.apple.mpegurl":                                             "m3u8",
	"application/x-mpegurl":                                                     "m3u8",
	"application/vnd.ms-fontobject":                                             "eot",
	"application/x-font-ttf":                                                    "ttf",
	"application/x-font-otf":                                                    "otf",
	"application/x-font-woff":                                                   "woff",
	"application/pkix-cert":                                                     "cer",
	"application/pkix-crl":                                                      "crl",
	"application/pkcs7-mime":                                                    "p7m",
	"application/pkcs7-signature":                                               "p7s",
	"application/x-pkcs12":                                                      "p12",
	"application/x-x509-ca-cert":                                                "crt",
	"application/ogg":                                                           "ogx",
	"application/mp4":                                                           "mp4s",
	"application/epub+zip":                                                      "epub",
	"application/wasm":                                                          "wasm", // not in tcpflow's map

	// images
	"image/jpeg":                "jpg",
	"image/png":                 "png",
	"image/gif":                 "gif",
	"image/bmp":                 "bmp",
	"image/tiff":                "tiff",
	"image/svg+xml":             "svg",
	"image/webp":                "webp",
	"image/x-icon":              "ico",
	"image/vnd.microsoft.icon":  "ico",  // not in tcpflow's map
	"image/avif":                "avif", // not in tcpflow's map
	"image/jp2":                 "jp2",
	"image/vnd.adobe.photoshop": "psd",
	"image/vnd.djvu":            "djvu",

	// fonts
	"font/woff":  "woff",  // not in tcpflow's map
	"font/woff2": "woff2", // not in tcpflow's map
	"font/ttf":   "ttf",   // not in tcpflow's map
	"font/otf":   "otf",   // not in tcpflow's map

	// audio and video
	"audio/mpeg":      "mpga",
	"audio/mp4":       "mp4a",
	"audio/webm":      "weba",
	"audio/ogg":       "ogg",
	"audio/x-wav":     "wav",
	"audio/x-mpegurl": "m3u",
	"video/mp4":       "m4v",
	"video/mpeg":      "mpg",
	"video/ogg":       "ogv",
	"video/webm":      "webm",
	"video/quicktime": "mov",
	"video/x-flv":     "flv",
	"video/x-msvideo": "avi",
	"video/x-ms-wmv":  "wmv",
	"video/3gpp":      "3gp",
	"video/mp2t":      "ts",
}
