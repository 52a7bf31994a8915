package tracking

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
)

// NewRunID returns a fresh run id: 32 lower-case hex digits from a random
// UUID's 128 bits, as MLflow's uuid.uuid4().hex.
func NewRunID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand.Read never fails on supported platforms (Go 1.24+).
		panic(fmt.Sprintf("tracking: reading random bytes: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return hex.EncodeToString(b[:])
}

// IsRunID reports whether s has the shape of a run id (32 lower-case hex
// digits).
func IsRunID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Word lists for generated run names, in the spirit of MLflow's
// name_utils (which pairs a predicate with a noun and a number).
var (
	runNameAdjectives = []string{
		"abundant", "adaptable", "agreeable", "amazing", "ambitious", "amusing", "angry", "auspicious",
		"awesome", "bemused", "beautiful", "bedecked", "big", "bold", "brawny", "bright", "bustling",
		"calm", "capable", "carefree", "caring", "casual", "charming", "chill", "classy", "clean",
		"clumsy", "colorful", "crawling", "dapper", "debonair", "dashing", "defiant", "delicate",
		"delightful", "dazzling", "efficient", "enchanting", "entertaining", "enthused", "exultant",
		"fearless", "flawless", "fortunate", "fun", "funny", "gaudy", "gentle", "gifted", "glamorous",
		"grandiose", "gregarious", "handsome", "hilarious", "honorable", "illustrious", "incongruous",
		"indecisive", "industrious", "intelligent", "inquisitive", "intrigued", "invincible", "judicious",
		"kindly", "languid", "learned", "legendary", "likeable", "loud", "luminous", "luxuriant",
		"lyrical", "magnificent", "marvelous", "masked", "melodic", "merciful", "mercurial", "monumental",
		"mysterious", "nebulous", "nervous", "nimble", "nosy", "omniscient", "orderly", "overjoyed",
		"peaceful", "painted", "persistent", "placid", "polite", "popular", "powerful", "puzzled",
		"rambunctious", "rare", "rebellious", "respected", "resilient", "righteous", "receptive",
		"redolent", "resilient", "rogue", "rumbling", "salty", "sassy", "secretive", "selective",
		"sedate", "serious", "shivering", "skillful", "sincere", "skittish", "silent", "smiling",
		"sneaky", "sophisticated", "spiffy", "stately", "suave", "stylish", "tasteful", "thoughtful",
		"thundering", "traveling", "treasured", "trusting", "unequaled", "upbeat", "unique", "unleashed",
		"useful", "upset", "valuable", "vaunted", "victorious", "welcoming", "whimsical", "wise",
		"worried", "youthful", "zealous",
	}
	runNameNouns = []string{
		"ant", "ape", "asp", "auk", "bass", "bat", "bear", "bee", "bird", "boar", "bug", "calf", "carp",
		"cat", "chimp", "cod", "colt", "conch", "cow", "crab", "crane", "croc", "crow", "cub", "deer",
		"doe", "dog", "dolphin", "donkey", "dove", "duck", "eel", "elk", "fawn", "finch", "fish", "flea",
		"fly", "foal", "fowl", "fox", "frog", "gnat", "gnu", "goat", "goose", "grouse", "grub", "gull",
		"hare", "hawk", "hen", "hog", "horse", "hound", "jay", "kit", "kite", "koi", "lamb", "lark",
		"loon", "lynx", "mare", "midge", "mink", "mole", "moose", "moth", "mouse", "mule", "newt", "owl",
		"ox", "panda", "penguin", "perch", "pig", "pug", "quail", "ram", "rat", "ray", "robin", "roo",
		"rook", "seal", "shad", "shark", "sheep", "shoat", "shrew", "shrike", "shrimp", "skink", "skunk",
		"sloth", "slug", "smelt", "snail", "snake", "snipe", "sow", "sponge", "squid", "squirrel",
		"stag", "steed", "stoat", "stork", "swan", "tern", "toad", "trout", "turtle", "vole", "wasp",
		"whale", "wolf", "worm", "wren", "yak", "zebra",
	}
)

// NewRunName returns a generated run name, "adjective-noun-NNN", as MLflow
// names runs created without one.
func NewRunName() string {
	return fmt.Sprintf("%s-%s-%d", pick(runNameAdjectives), pick(runNameNouns), randInt(1000))
}

func pick(words []string) string { return words[randInt(len(words))] }

func randInt(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic(fmt.Sprintf("tracking: reading random bytes: %v", err))
	}
	return int(v.Int64())
}
