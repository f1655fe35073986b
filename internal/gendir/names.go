package gendir

// name is a person's name with an ASCII form for uid and mail, which are
// IA5 strings in the schemas.
type name struct{ text, ascii string }

// The tables mix ASCII names with Latin diacritics, ligatures and Han
// characters, so that every run exercises UTF-8 end to end. No name holds a
// character that must be escaped in a DN (, + " \ < > ; = #).
var givenNames = []name{
	{"Zoë", "zoe"}, {"Łukasz", "lukasz"}, {"Søren", "soren"}, {"Jürgen", "jurgen"},
	{"Renée", "renee"}, {"François", "francois"}, {"Björn", "bjorn"}, {"Małgorzata", "malgorzata"},
	{"Siobhán", "siobhan"}, {"José", "jose"}, {"Ayşe", "ayse"}, {"伟", "wei"},
	{"芳", "fang"}, {"Ólafur", "olafur"}, {"Niamh", "niamh"}, {"Ingrid", "ingrid"},
	{"Mohammed", "mohammed"}, {"Aiko", "aiko"}, {"Ana", "ana"}, {"John", "john"},
	{"Mary", "mary"}, {"Emma", "emma"}, {"Liam", "liam"}, {"Chloé", "chloe"},
	{"Dag", "dag"}, {"Đorđe", "dorde"}, {"Aïcha", "aicha"}, {"Kenji", "kenji"},
}

var surnames = []name{
	{"Müller", "muller"}, {"Weiß", "weiss"}, {"Øster", "oster"}, {"Nowak", "nowak"},
	{"Łukaszewicz", "lukaszewicz"}, {"王", "wang"}, {"李", "li"}, {"García", "garcia"},
	{"Nguyễn", "nguyen"}, {"Søndergaard", "sondergaard"}, {"O'Brien", "obrien"}, {"Smith", "smith"},
	{"Johnson", "johnson"}, {"Dubois", "dubois"}, {"Kowalski", "kowalski"}, {"Yılmaz", "yilmaz"},
	{"Andersen", "andersen"}, {"Rossi", "rossi"}, {"Núñez", "nunez"}, {"Strauß", "strauss"},
	{"Æbelø", "aebelo"}, {"Brontë", "bronte"}, {"Tanaka", "tanaka"}, {"van der Berg", "vanderberg"},
}

var titles = []string{
	"Software Engineer", "Ingénieur logiciel", "Geschäftsführer", "Sales Manager",
	"Økonomichef", "Product Owner", "Analyste financière", "工程师",
	"Support Specialist", "Directrice des opérations", "Site Reliability Engineer", "Buchhalterin",
}

var departments = []string{
	"Engineering", "Équipe Qualité", "Vertrieb Süd", "研发部", "Finance",
	"Støtte", "Marketing", "Ressources humaines", "Legal", "Operations",
}
